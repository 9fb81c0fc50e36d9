package pipeline

import (
	"context"

	"github.com/msgmigrate/msgmigrate/extract"
	"github.com/msgmigrate/msgmigrate/job"
)

// URLResolver maps a connector's configured url to the one to use. The CLI
// passes the sandbox's, so that url: sandbox reaches the in-process fakes;
// the pipeline itself knows nothing of them.
type URLResolver interface {
	Resolve(kind, raw string) (string, error)
}

// resolver is the URL function for a connector of kind.
func (o *Options) resolver(kind string) func(string) (string, error) {
	if o.URLs == nil {
		return nil
	}
	return func(raw string) (string, error) { return o.URLs.Resolve(kind, raw) }
}

// OpenSource opens a job's source as a run would, for commands that read
// without loading (validate, preview).
func OpenSource(ctx context.Context, j *job.Job, opts Options) (extract.Source, error) {
	opts.defaults()
	return extract.Open(ctx, j.SourceKind, j.Source, extract.Env{ResolveURL: opts.resolver(j.SourceKind), Log: opts.Log})
}
