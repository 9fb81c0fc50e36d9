package pipeline

import (
	"context"

	"github.com/msgmigrate/msgmigrate/extract"
	"github.com/msgmigrate/msgmigrate/job"
	"github.com/msgmigrate/msgmigrate/sandbox"
)

// SandboxURL is the URL that means "the in-process fake" for a source or a
// sink.
const SandboxURL = "sandbox"

// sandboxes starts, on first use, one in-process server with every vendor
// fake, configured with the job's own credentials, and stops it at the end.
type sandboxes struct {
	r       *run
	running *sandbox.Running
	started bool
}

// resolver returns the URL resolver for a connector of kind.
func (s *sandboxes) resolver(kind string) func(string) (string, error) {
	return func(raw string) (string, error) {
		if raw != SandboxURL {
			return raw, nil
		}
		return s.get().VendorURL(kind), nil
	}
}

func (s *sandboxes) get() *sandbox.Running {
	if s.r.opts.Sandbox != nil {
		return s.r.opts.Sandbox
	}
	if s.running == nil {
		j := s.r.job
		cfg := s.r.opts.SandboxConfig
		// Each fake takes the credentials of the job's section of its kind,
		// whether the job reads from it or writes to it.
		val := func(kind, key string) string {
			switch {
			case j.SinkKind == kind:
				return j.SinkValue(key)
			case j.SourceKind == kind:
				return j.SourceValue(key)
			}
			return ""
		}
		cfg.MyKaarma.Username, cfg.MyKaarma.Password = val("mykaarma", "username"), val("mykaarma", "password")
		cfg.Gorgias.Email, cfg.Gorgias.APIKey = val("gorgias", "username"), val("gorgias", "api_key")
		cfg.Tracezilla.Token = val("tracezilla", "token")
		cfg.SuperOffice.Token, cfg.SuperOffice.Ticket, cfg.SuperOffice.AppToken = val("superoffice", "token"), val("superoffice", "ticket"), val("superoffice", "app_token")
		cfg.EziManager.Email, cfg.EziManager.Password = val("ezimanager", "email"), val("ezimanager", "password")
		// Something to migrate in a demo: the same messages in every process.
		for _, n := range []*int{&cfg.Gorgias.Messages, &cfg.Tracezilla.Messages, &cfg.SuperOffice.Messages, &cfg.EziManager.Messages} {
			if *n == 0 {
				*n = 500
			}
		}
		s.running = sandbox.Start(cfg)
		s.started = true
	}
	return s.running
}

func (s *sandboxes) close() {
	if s.started {
		s.running.Close()
	}
}

// OpenSource opens a job's source as a run would, `url: sandbox` included,
// for commands that read without loading (validate, preview). close stops
// what it started.
func OpenSource(ctx context.Context, j *job.Job, opts Options) (src extract.Source, closeAll func(), err error) {
	r := &run{job: j, opts: opts}
	r.sb = &sandboxes{r: r}
	src, err = extract.Open(ctx, j.SourceKind, j.Source, extract.Env{ResolveURL: r.sb.resolver(j.SourceKind)})
	if err != nil {
		r.sb.close()
		return nil, nil, err
	}
	return src, func() { src.Close(); r.sb.close() }, nil
}
