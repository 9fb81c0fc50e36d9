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

// Credentials the in-process fakes expect (and `msgmigrate sandbox` by
// default): the examples' defaults. A job that sends others is refused, as
// the vendor would refuse it — so an auth failure can be rehearsed.
const (
	User     = "sandbox"
	Password = "sandbox"
)

// DefaultConfig is every fake, expecting the default credentials, with
// messages to migrate (the same in every process).
func DefaultConfig(messages int) Config {
	return Config{
		MyKaarma:    MyKaarmaConfig{Username: User, Password: Password},
		Gorgias:     GorgiasConfig{Email: "ops@shop.example", APIKey: Password, AccessToken: Password, Messages: messages},
		Tracezilla:  TracezillaConfig{Token: Password, Messages: messages},
		SuperOffice: SuperOfficeConfig{Ticket: Password, AppToken: Password, Token: Password, Messages: messages},
		EziManager:  EziManagerConfig{Email: "ops@store.example", Password: Password, Messages: messages},
	}
}

// Lazy starts, on first use, one in-process server with every vendor fake
// (DefaultConfig unless Config is set), so that a job with url: sandbox
// runs as it would against the vendor.
type Lazy struct {
	Config *Config

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
		cfg := DefaultConfig(500)
		if l.Config != nil {
			cfg = *l.Config
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
