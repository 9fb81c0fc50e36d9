package sandbox

import (
	"sync"
)

// URL is what a job writes as a connector's url to mean "the in-process
// fake".
const URL = "sandbox"

// Resolve maps url: sandbox to this server's URL for a connector of kind;
// any other URL is left as it is.
func (r *Running) Resolve(kind, raw string) (string, error) {
	if raw != URL {
		return raw, nil
	}
	return r.VendorURL(kind), nil
}

// Lazy starts, on first use, one in-process server with every vendor fake,
// configured with the job's own credentials, so that a job with url:
// sandbox runs as it would against the vendor.
type Lazy struct {
	Config Config
	// Value returns a key of the job's section of a connector kind ("" when
	// the job has no such section): the fakes expect the job's credentials.
	Value func(kind, key string) string

	mu      sync.Mutex
	running *Running
}

// Resolve starts the server if need be and resolves raw for kind.
func (l *Lazy) Resolve(kind, raw string) (string, error) {
	if raw != URL {
		return raw, nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.running == nil {
		cfg := l.Config
		val := l.Value
		if val == nil {
			val = func(string, string) string { return "" }
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
		l.running = Start(cfg)
	}
	return l.running.VendorURL(kind), nil
}

// Close stops the server if it was started.
func (l *Lazy) Close() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.running != nil {
		l.running.Close()
		l.running = nil
	}
}
