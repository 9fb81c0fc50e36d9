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
		cfg.MyKaarma.Username = j.SinkValue("username")
		cfg.MyKaarma.Password = j.SinkValue("password")
		cfg.Gorgias.Email = j.SourceValue("username")
		cfg.Gorgias.APIKey = j.SourceValue("api_key")
		cfg.Tracezilla.Token = j.SourceValue("token")
		cfg.EziManager.Email = j.SourceValue("email")
		cfg.EziManager.Password = j.SourceValue("password")
		if cfg.EziManager.Messages == 0 {
			cfg.EziManager.Messages = 500
		}
		cfg.SuperOffice.Token = j.SourceValue("token")
		cfg.SuperOffice.Ticket = j.SourceValue("ticket")
		cfg.SuperOffice.AppToken = j.SourceValue("app_token")
		if cfg.SuperOffice.Messages == 0 {
			cfg.SuperOffice.Messages = 500
		}
		if cfg.Tracezilla.Messages == 0 {
			cfg.Tracezilla.Messages = 500
		}
		if cfg.Gorgias.Messages == 0 {
			cfg.Gorgias.Messages = 500 // something to migrate in a demo
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
