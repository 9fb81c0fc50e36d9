package sandbox

import (
	"net/http"
	"net/http/httptest"
)

// MyKaarmaBase is where the myKaarma fake is mounted.
const MyKaarmaBase = "/communications"

// Config configures every fake of a Server.
type Config struct {
	MyKaarma MyKaarmaConfig
}

// Server serves all the vendor fakes on one listener.
type Server struct {
	MyKaarma *MyKaarma
	Handler  http.Handler
}

// New builds the fakes.
func New(cfg Config) *Server {
	s := &Server{MyKaarma: NewMyKaarma(cfg.MyKaarma)}
	mux := http.NewServeMux()
	mux.Handle(MyKaarmaBase+"/", s.MyKaarma.Handler(MyKaarmaBase))
	s.Handler = mux
	return s
}

// Running is a Server listening on loopback.
type Running struct {
	*Server
	ts *httptest.Server
}

// Start serves the fakes on a loopback port.
func Start(cfg Config) *Running {
	s := New(cfg)
	return &Running{Server: s, ts: httptest.NewServer(s.Handler)}
}

// URL is the server's base URL.
func (r *Running) URL() string { return r.ts.URL }

// MyKaarmaURL is the base URL a mykaarma sink is given.
func (r *Running) MyKaarmaURL() string { return r.ts.URL + MyKaarmaBase }

// Close stops the server.
func (r *Running) Close() { r.ts.Close() }
