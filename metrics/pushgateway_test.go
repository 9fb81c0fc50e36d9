package metrics

import (
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
)

// pushgateway is a stand-in Pushgateway with the real one's semantics for a
// group (https://github.com/prometheus/pushgateway#api): PUT replaces the
// whole group, POST replaces only the families it carries, DELETE removes
// the group. Bodies are decoded by their Content-Type, as the real one does
// (the push client sends delimited protobuf).
type pushgateway struct {
	t      *testing.T
	srv    *httptest.Server
	pushes chan received // every push, as received

	mu     sync.Mutex
	groups map[string]map[string]*dto.MetricFamily // grouping key → family name → family
	status int                                     // answer with this instead of 200, when set
}

type received struct {
	method   string
	group    map[string]string
	families map[string]*dto.MetricFamily
	user     string
	password string
	refused  bool // answered with the status set by refuse
}

func newPushgateway(t *testing.T) *pushgateway {
	g := &pushgateway{t: t, pushes: make(chan received, 1000), groups: map[string]map[string]*dto.MetricFamily{}}
	g.srv = httptest.NewServer(http.HandlerFunc(g.serve))
	t.Cleanup(g.srv.Close)
	return g
}

func (g *pushgateway) serve(w http.ResponseWriter, req *http.Request) {
	group, err := groupingKey(req.URL.EscapedPath())
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	fams := map[string]*dto.MetricFamily{}
	dec := expfmt.NewDecoder(req.Body, expfmt.ResponseFormat(req.Header))
	for {
		mf := &dto.MetricFamily{}
		if err := dec.Decode(mf); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "job" {
					http.Error(w, "pushed metric carries a job label", http.StatusBadRequest)
					return
				}
			}
		}
		fams[mf.GetName()] = mf
	}
	user, password, _ := req.BasicAuth()
	g.mu.Lock()
	status := g.status
	if status == 0 {
		key := keyString(group)
		switch req.Method {
		case http.MethodPut:
			g.groups[key] = fams
		case http.MethodPost:
			if g.groups[key] == nil {
				g.groups[key] = map[string]*dto.MetricFamily{}
			}
			for name, mf := range fams {
				g.groups[key][name] = mf
			}
		case http.MethodDelete:
			delete(g.groups, key)
		default:
			status = http.StatusMethodNotAllowed
		}
	}
	g.mu.Unlock()
	select {
	case g.pushes <- received{method: req.Method, group: group, families: fams, user: user, password: password, refused: status != 0}:
	default:
		g.t.Error("stand-in Pushgateway: more pushes than the test reads")
	}
	if status != 0 {
		http.Error(w, "refused by the test", status)
		return
	}
	w.WriteHeader(http.StatusOK)
}

// groupingKey reads /metrics/job/<job>{/<label>/<value>}, with the @base64
// suffix for values that hold a slash.
func groupingKey(path string) (map[string]string, error) {
	rest, ok := strings.CutPrefix(path, "/metrics/")
	if !ok {
		return nil, fmt.Errorf("path %q is not /metrics/job/…", path)
	}
	parts := strings.Split(rest, "/")
	if len(parts)%2 != 0 || parts[0] != "job" && parts[0] != "job@base64" {
		return nil, fmt.Errorf("path %q is not /metrics/job/…", path)
	}
	key := map[string]string{}
	for i := 0; i < len(parts); i += 2 {
		name, value := parts[i], parts[i+1]
		if n, ok := strings.CutSuffix(name, "@base64"); ok {
			b, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(value, "="))
			if err != nil {
				return nil, err
			}
			name, value = n, string(b)
		} else {
			v, err := url.QueryUnescape(value) // the push client escapes with url.QueryEscape
			if err != nil {
				return nil, err
			}
			value = v
		}
		key[name] = value
	}
	return key, nil
}

func keyString(group map[string]string) string {
	var parts []string
	for k, v := range group {
		parts = append(parts, k+"="+v)
	}
	slices.Sort(parts)
	return strings.Join(parts, ",")
}

// group returns a copy of what the stand-in holds for a grouping key.
func (g *pushgateway) group(key map[string]string) map[string]*dto.MetricFamily {
	g.mu.Lock()
	defer g.mu.Unlock()
	out := map[string]*dto.MetricFamily{}
	for name, mf := range g.groups[keyString(key)] {
		out[name] = mf
	}
	return out
}

func (g *pushgateway) refuse(status int) {
	g.mu.Lock()
	g.status = status
	g.mu.Unlock()
}

// next waits for the next push (never a sleep: the push arrives or the test
// fails after a generous timeout).
func (g *pushgateway) next(t *testing.T) received {
	t.Helper()
	select {
	case p := <-g.pushes:
		return p
	case <-time.After(10 * time.Second):
		t.Fatal("no push reached the stand-in Pushgateway within 10s")
		return received{}
	}
}

// drain returns the pushes received so far, without waiting.
func (g *pushgateway) drain() []received {
	var ps []received
	for {
		select {
		case p := <-g.pushes:
			ps = append(ps, p)
		default:
			return ps
		}
	}
}
