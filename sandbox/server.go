package sandbox

import (
	"net/http"
	"net/http/httptest"
)

// MyKaarmaBase is where the myKaarma fake is mounted.
const MyKaarmaBase = "/communications"

// GorgiasBase is where the Gorgias fake is mounted.
const GorgiasBase = "/gorgias/api"

// TracezillaBase is where the tracezilla fake is mounted.
const TracezillaBase = "/tracezilla/api/v1"

// SuperOfficePrefix is where the SuperOffice fake is mounted: the tenant's
// API is at {prefix}/{CustNNNNN}/api/v1, its state at {prefix}/api/state/….
const SuperOfficePrefix = "/superoffice"

// EziManagerBase is where the EziManager fake is mounted.
const EziManagerBase = "/ezimanager"

// Config configures every fake of a Server.
type Config struct {
	EziManager  EziManagerConfig
	MyKaarma    MyKaarmaConfig
	Gorgias     GorgiasConfig
	Tracezilla  TracezillaConfig
	SuperOffice SuperOfficeConfig
}

// Server serves all the vendor fakes on one listener.
type Server struct {
	MyKaarma    *MyKaarma
	Gorgias     *Gorgias
	Tracezilla  *Tracezilla
	SuperOffice *SuperOffice
	EziManager  *EziManager
	Handler     http.Handler

	meter *meter // the myKaarma fake's traffic, for StatsPath
}

// New builds the fakes.
func New(cfg Config) *Server {
	s := &Server{MyKaarma: NewMyKaarma(cfg.MyKaarma), Gorgias: NewGorgias(cfg.Gorgias), Tracezilla: NewTracezilla(cfg.Tracezilla),
		SuperOffice: NewSuperOffice(cfg.SuperOffice), EziManager: NewEziManager(cfg.EziManager), meter: newMeter()}
	mux := http.NewServeMux()
	mux.Handle(MyKaarmaBase+"/", s.meter.wrap(s.MyKaarma.Handler(MyKaarmaBase)))
	mux.HandleFunc("GET "+StatsPath, s.serveStats)
	mux.HandleFunc("POST "+ResetPath, s.serveReset)
	mux.Handle(GorgiasBase+"/", s.Gorgias.Handler(GorgiasBase))
	mux.Handle(TracezillaBase+"/", s.Tracezilla.Handler(TracezillaBase))
	mux.Handle(SuperOfficePrefix+"/", s.SuperOffice.Handler(SuperOfficePrefix))
	mux.Handle(EziManagerBase+"/", s.EziManager.Handler(EziManagerBase))
	s.Handler = mux
	return s
}

// VendorURL is the base URL a connector of that kind is given.
func (r *Running) VendorURL(kind string) string {
	switch kind {
	case "mykaarma":
		return r.MyKaarmaURL()
	case "gorgias":
		return r.ts.URL + GorgiasBase
	case "tracezilla":
		return r.ts.URL + TracezillaBase + "/" + r.Tracezilla.cfg.Team
	case "ezimanager":
		return r.ts.URL + EziManagerBase + "/"
	case "superoffice":
		return r.ts.URL + SuperOfficePrefix + "/" + r.SuperOffice.cfg.Tenant + "/api/v1"
	}
	return r.ts.URL
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
