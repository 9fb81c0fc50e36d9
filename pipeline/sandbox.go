package pipeline

import (
	"github.com/msgmigrate/msgmigrate/sandbox"
)

// SandboxURL is the sink URL that means "the in-process fake".
const SandboxURL = "sandbox"

// sandboxResolver maps `url: sandbox` to a fake served on loopback, started
// on first use with the job's own credentials, and stopped by the returned
// func.
func (r *run) sandboxResolver() (stop func(), resolve func(string) (string, error)) {
	var started *sandbox.Running
	stop = func() {
		if started != nil {
			started.Close()
		}
	}
	resolve = func(raw string) (string, error) {
		if raw != SandboxURL {
			return raw, nil
		}
		s := r.opts.Sandbox
		if s == nil {
			cfg := r.opts.SandboxConfig
			cfg.MyKaarma.Username = r.job.SinkValue("username")
			cfg.MyKaarma.Password = r.job.SinkValue("password")
			started = sandbox.Start(cfg)
			s = started
		}
		switch r.job.SinkKind {
		case "mykaarma":
			return s.MyKaarmaURL(), nil
		}
		return s.URL(), nil
	}
	return stop, resolve
}
