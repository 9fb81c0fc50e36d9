package metrics

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/msgmigrate/msgmigrate/config"
)

// Config is the job file's metrics: section. Each part is off when absent.
type Config struct {
	Listen string      `yaml:"listen"` // ":9464": serve /metrics while the run lasts
	Push   *PushConfig `yaml:"push"`   // push to a Pushgateway on an interval and at exit
	File   string      `yaml:"file"`   // node_exporter textfile-collector output, written at exit
}

// PushConfig says where and how often to push.
type PushConfig struct {
	URL      string          `yaml:"url"`      // the Pushgateway, without /metrics/job/…
	Interval config.Duration `yaml:"interval"` // default 15s
	Username string          `yaml:"username"` // basic auth, as the Pushgateway's web config asks: ${VAR}
	Password string          `yaml:"password"`
}

// DefaultPushInterval is the push interval when the job gives none.
const DefaultPushInterval = 15 * time.Second

// minPushInterval keeps a typo ("15ms") from hammering a shared Pushgateway.
// A variable so that the tests can push every few milliseconds.
var minPushInterval = time.Second

// ConfigError is a bad metrics: setting. Line is 0 when the Config did not
// come from a job file.
type ConfigError struct {
	File string
	Line int
	Key  string // dotted, e.g. metrics.push.url
	Msg  string
}

func (e *ConfigError) Error() string {
	if e.File == "" {
		return e.Key + ": " + e.Msg
	}
	if e.Line == 0 {
		return fmt.Sprintf("%s: %s: %s", e.File, e.Key, e.Msg)
	}
	return fmt.Sprintf("%s:%d: %s: %s", e.File, e.Line, e.Key, e.Msg)
}

// Decode reads a job file's metrics: section strictly (an unknown key is an
// error naming the file and line), resolves file: against the job file's
// directory, fills in defaults and checks every setting. A nil section gives
// the zero Config: metrics off.
func Decode(s config.Section) (Config, error) {
	var c Config
	if err := s.Decode(&c); err != nil {
		return Config{}, err
	}
	c.File = s.Path(c.File)
	errs := c.check()
	for _, e := range errs {
		e.File = s.File
		e.Line = lineOf(s.Node, strings.Split(strings.TrimPrefix(e.Key, "metrics."), ".")...)
	}
	if len(errs) > 0 {
		return Config{}, joinConfigErrors(errs)
	}
	c.defaults()
	return c, nil
}

func joinConfigErrors(errs []*ConfigError) error {
	all := make([]error, len(errs))
	for i, e := range errs {
		all[i] = e
	}
	return errors.Join(all...)
}

// enabled reports whether any output is configured.
func (c Config) enabled() bool { return c.Listen != "" || c.Push != nil || c.File != "" }

func (c *Config) defaults() {
	if c.Push != nil && c.Push.Interval == 0 {
		p := *c.Push // never write through the caller's pointer
		p.Interval = config.Duration(DefaultPushInterval)
		c.Push = &p
	}
}

// check returns every bad setting. It never quotes a password, nor a URL
// that carries credentials.
func (c Config) check() []*ConfigError {
	var errs []*ConfigError
	bad := func(key, format string, args ...any) {
		errs = append(errs, &ConfigError{Key: key, Msg: fmt.Sprintf(format, args...)})
	}
	if c.Listen != "" {
		_, port, err := net.SplitHostPort(c.Listen)
		if n, perr := strconv.Atoi(port); err != nil || perr != nil || n < 0 || n > 65535 {
			bad("metrics.listen", "%q is not host:port (e.g. \":9464\", \"127.0.0.1:9464\")", c.Listen)
		}
	}
	if p := c.Push; p != nil {
		switch u, err := parsePushURL(p.URL); {
		case p.URL == "":
			bad("metrics.push.url", "is required (the Pushgateway, e.g. http://pushgateway:9091)")
		case err != nil:
			bad("metrics.push.url", "not a URL (e.g. http://pushgateway:9091)")
		case u.User != nil:
			bad("metrics.push.url", "credentials in the URL are refused: give username and password, from the environment (${VAR})")
		case u.Scheme != "http" && u.Scheme != "https":
			bad("metrics.push.url", "scheme %q: want http or https", u.Scheme)
		case u.Host == "":
			bad("metrics.push.url", "%q has no host", p.URL)
		case strings.Contains(u.Path, "/metrics/job"):
			bad("metrics.push.url", "%q: give the Pushgateway's base URL; /metrics/job/… is added from the job's name", p.URL)
		}
		if d := time.Duration(p.Interval); d != 0 && d < minPushInterval {
			bad("metrics.push.interval", "%s: at least %s", d, minPushInterval)
		}
		if (p.Username == "") != (p.Password == "") {
			bad("metrics.push.username", "basic auth needs both username and password")
		}
	}
	if c.File != "" && !strings.HasSuffix(c.File, ".prom") {
		bad("metrics.file", "%q: node_exporter's textfile collector reads only *.prom files", c.File)
	}
	return errs
}

// parsePushURL reads the URL as the push client will: host:port alone means
// http://host:port.
func parsePushURL(s string) (*url.URL, error) {
	if !strings.Contains(s, "://") {
		s = "http://" + s
	}
	return url.Parse(s)
}

// lineOf returns the line of the value at path below n (the section's
// mapping node), or of the deepest key found on the way; 0 without a node.
func lineOf(n *yaml.Node, path ...string) int {
	line := 0
	if n != nil {
		line = n.Line
	}
	for _, key := range path {
		if n == nil || n.Kind != yaml.MappingNode {
			return line
		}
		var next *yaml.Node
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == key {
				next = n.Content[i+1]
				line = n.Content[i].Line
				break
			}
		}
		n = next
	}
	return line
}
