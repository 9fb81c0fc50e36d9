package kube

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/msgmigrate/msgmigrate/mappings"
	"github.com/msgmigrate/msgmigrate/transform"
	"github.com/msgmigrate/msgmigrate/transport"
)

// Manifests are what Generate makes. Exactly one of Job and CronJob is set.
type Manifests struct {
	ConfigMap *corev1.ConfigMap
	Job       *batchv1.Job
	CronJob   *batchv1.CronJob

	Name      string      // the Job's (or CronJob's) name
	JobFile   string      // the job file as given
	Secret    string      // the Secret the pods read their environment from
	Vars      []SecretVar // the Secret's keys, in name order
	Namespace string
	// Notes are what the user should know before applying: a plan that
	// works but costs more than they may think.
	Notes []string
}

// maxConfigMapBytes is the API server's limit on a ConfigMap's data and
// binaryData together (1 MiB, as for a Secret: "The data stored in a
// ConfigMap cannot exceed 1 MiB", the ConfigMap concept page).
const maxConfigMapBytes = 1 << 20

// vendorSources read a vendor's API.
var vendorSources = map[string]bool{"gorgias": true, "superoffice": true, "tracezilla": true, "ezimanager": true}

// fileKinds read input files: the key naming them, relative to the job.
var fileKinds = map[string]string{"csv": "path", "jsonl": "path", "xlsx": "path", "parquet": "path", "ezimanager": "ids"}

// readsBeforeWrite are the sinks whose one request may be two (they read the
// record to merge over it, then write it): a drain may wait for both.
var readsBeforeWrite = map[string]bool{"superoffice": true, "ezimanager": true}

// Generate reads the job file at jobPath and makes the manifests that run it
// on Kubernetes. A job that cannot run in a pod as written is an *Error.
func Generate(jobPath string, o Options) (*Manifests, error) {
	if err := o.checkOptions(); err != nil {
		return nil, err
	}
	jf, err := readJob(jobPath, o.Sets)
	if err != nil {
		return nil, err
	}
	if o.Validate != nil {
		if err := o.Validate(jf.lookup); err != nil {
			return nil, err
		}
	}
	g := &generator{o: o, jf: jf}
	if err := g.checkName(); err != nil {
		return nil, err
	}
	steps := []func() error{g.checkLedger, g.checkSink, g.readMetrics, g.gracePeriod, g.bundle}
	for _, step := range steps {
		if err := step(); err != nil {
			return nil, err
		}
	}
	return g.manifests(), nil
}

type generator struct {
	o  Options
	jf *jobFile

	name        string
	claim       string // --volume
	mount       string
	files       []*bundled
	jobRel      string   // the job file's path below ConfigDir
	setArgs     []string // --set the generator adds (input paths on the volume)
	metricsPort int32
	notes       []string
	grace       int64
}

// bundled is a file that goes into the ConfigMap.
type bundled struct {
	local string // absolute, on this machine
	ref   string // how the job names it, for messages
	key   string // in the ConfigMap
	rel   string // below ConfigDir in the pod (slash separated)
	data  []byte
}

func (g *generator) errorf(line int, key, format string, a ...any) error {
	return &Error{File: g.jf.path, Line: line, Key: key, Reason: fmt.Sprintf(format, a...)}
}

var notLabel = regexp.MustCompile(`[^a-z0-9]+`)

// checkName picks the name and checks it against what the API will need:
// an Indexed Job's pods are named after it with their index (the hostname
// JOBNAME-INDEX must be a DNS label, so at most 63 characters), and a
// CronJob's Jobs add "-" and the scheduled time in minutes (8 digits until
// the year 2160) to it, and the API takes at most 52 characters for a CronJob.
func (g *generator) checkName() error {
	flag := "--name"
	name := g.o.Name
	if name == "" {
		flag = "--name (default: the job file's name)"
		base := filepath.Base(g.jf.path)
		name = strings.Trim(notLabel.ReplaceAllString(strings.ToLower(strings.TrimSuffix(base, filepath.Ext(base))), "-"), "-")
	}
	if errs := validation.IsDNS1123Label(name); len(errs) > 0 {
		return flagError(flag, "%q: %s", name, strings.Join(errs, "; "))
	}
	host := fmt.Sprintf("%s-%d", name, g.o.Shards-1)
	if g.o.Schedule != "" {
		if len(name) > 52 {
			return flagError(flag, "%q is %d characters: a CronJob's name has at most 52", name, len(name))
		}
		host = fmt.Sprintf("%s-%d-%d", name, 99999999, g.o.Shards-1)
	}
	if len(host) > validation.DNS1123LabelMaxLength {
		return flagError(flag, "%q is too long for %d shards: the pods' host names (%s) would pass %d characters; give a shorter --name",
			name, g.o.Shards, host, validation.DNS1123LabelMaxLength)
	}
	g.name = name
	if g.o.Secret == "" {
		g.o.Secret = name + "-env"
	}
	if errs := validation.IsDNS1123Subdomain(g.o.Secret); len(errs) > 0 {
		return flagError("--secret", "%q: %s", g.o.Secret, strings.Join(errs, "; "))
	}
	if g.o.Volume != "" {
		g.claim, g.mount, _ = strings.Cut(g.o.Volume, ":")
	}
	return nil
}

// checkLedger refuses a ledger the pods cannot share: every shard, and the
// pod that replaces one on another node, must reach the same ledger.
func (g *generator) checkLedger() error {
	if err := g.ledgerURL("state", true); err != nil {
		return err
	}
	if kind, _ := scalar(g.jf.view, "source.kind"); kind == "ledger" {
		// The ledger source reads another job's ledger: path, or state.
		key := "source.path"
		if v, _ := scalar(g.jf.root, key); v == "" {
			key = "source.state"
		}
		return g.ledgerURL(key, false)
	}
	return nil
}

func (g *generator) ledgerURL(key string, own bool) error {
	raw, line := scalar(g.jf.root, key)
	view, _ := scalar(g.jf.view, key)
	const fix = "use PostgreSQL: state: ${MSGMIGRATE_STATE} in the job file (or --set 'state=${MSGMIGRATE_STATE}'), and the postgres:// URL in the Secret"
	switch {
	case raw == "" && own:
		return g.errorf(0, key, "not set: the ledger would be a SQLite file (.msgmigrate/%s.db) on the pod's own disk, which is lost when the pod moves to another node, and the shards must share one ledger; %s",
			strings.TrimSuffix(filepath.Base(g.jf.path), filepath.Ext(g.jf.path)), fix)
	case raw == "":
		return nil // the source reports it missing
	case strings.HasPrefix(raw, "${"):
		return nil // from the Secret (readJob made its variables required)
	case strings.HasPrefix(view, "postgres://"), strings.HasPrefix(view, "postgresql://"):
		if literalPassword(raw) {
			return g.errorf(line, key, "the URL holds a password, which would be written into the manifest: write state: ${MSGMIGRATE_STATE} and put the URL in the Secret (or the password alone: postgres://user:${PGPASSWORD}@host/db)")
		}
		return nil
	}
	return g.errorf(line, key, "%q is not a postgres:// URL, so the ledger would be a SQLite file on the pod's own disk: lost when the pod moves to another node, and the shards must share one ledger; %s", redact(view), fix)
}

// redact hides a URL's password: an error never shows one.
func redact(s string) string {
	if u, err := url.Parse(s); err == nil && u.User != nil {
		return u.Redacted()
	}
	return s
}

// literalPassword says whether a postgres URL, as written, holds a password
// that is not a ${VAR}: in the userinfo or as ?password=.
func literalPassword(raw string) bool {
	_, rest, _ := strings.Cut(raw, "://")
	authority, query := rest, ""
	if i := strings.IndexAny(rest, "/?"); i >= 0 {
		authority = rest[:i]
	}
	if i := strings.IndexByte(rest, '?'); i >= 0 {
		query = rest[i+1:]
	}
	literal := func(v string) bool { return v != "" && !strings.Contains(v, "${") }
	if at := strings.LastIndexByte(authority, '@'); at >= 0 {
		if _, pw, ok := strings.Cut(authority[:at], ":"); ok && literal(pw) {
			return true
		}
	}
	for kv := range strings.SplitSeq(query, "&") {
		if k, v, _ := strings.Cut(kv, "="); strings.EqualFold(k, "password") && literal(v) {
			return true
		}
	}
	return false
}

// checkSource places the input files: on the volume, or in the ConfigMap.
func (g *generator) checkSource() error {
	kind, _ := scalar(g.jf.view, "source.kind")
	if vendorSources[kind] && g.o.Shards > 1 {
		// Shards by route of a vendor API each read the whole listing and
		// keep their routes: the account's read budget is spent N times.
		g.notes = append(g.notes, fmt.Sprintf("every one of the %d shards reads the whole %s source and keeps its own routes: the account's read budget is spent %d times. One process is usually enough for one account (the target's rate is the ceiling); to split by account, generate one job per account.", g.o.Shards, kind, g.o.Shards))
	}
	key, ok := fileKinds[kind]
	if !ok {
		return nil // a vendor API: nothing to mount
	}
	value, line := scalar(g.jf.view, "source."+key)
	if value == "" {
		return nil // the source says what it needs
	}
	raw, _ := scalar(g.jf.root, "source."+key)
	_, err := g.add(placeRef{key: "source." + key, value: value, line: line, dir: g.jf.dir, file: g.jf.path, data: true,
		fromEnv: strings.Contains(raw, "${")})
	return err
}

// checkSink refuses a sink whose output would stay in the pod.
func (g *generator) checkSink() error {
	if kind, _ := scalar(g.jf.view, "sink.kind"); kind == "jsonl" {
		if p, line := scalar(g.jf.view, "sink.path"); p != "-" {
			return g.errorf(line, "sink.path", "%q is a file in the pod, lost when it ends: write path: \"-\" (the pod's log) or load into a vendor", p)
		}
	}
	return nil
}

func (g *generator) readMetrics() error {
	if file, line := scalar(g.jf.view, "metrics.file"); file != "" {
		return g.errorf(line, "metrics.file", "%q would be written in the pod, which is read-only and lost when it ends: use metrics.listen (scraped from the pods' \"metrics\" port) or metrics.push (a Pushgateway)", file)
	}
	listen, line := scalar(g.jf.view, "metrics.listen")
	if listen == "" {
		return nil
	}
	_, port, err := net.SplitHostPort(listen)
	n, perr := strconv.ParseUint(port, 10, 16)
	if err != nil || perr != nil || n == 0 {
		return g.errorf(line, "metrics.listen", "%q: want host:port or :port (e.g. \":9464\") to declare the pods' metrics port", listen)
	}
	g.metricsPort = int32(n)
	return nil
}

// gracePeriod is how long a pod gets between SIGTERM and SIGKILL: a drain
// finishes the requests in flight (each at most sink.timeout; two for a sink
// that reads before it writes), then records them and writes the report.
func (g *generator) gracePeriod() error {
	if g.o.GracePeriod > 0 {
		g.grace = int64((g.o.GracePeriod + time.Second - 1) / time.Second)
		return nil
	}
	timeout := transport.DefaultTimeout
	if v, line := scalar(g.jf.view, "sink.timeout"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			return g.errorf(line, "sink.timeout", "%q is not a duration the generator can read for the pods' grace period: write one (e.g. 60s), or give --grace-period", v)
		}
		timeout = d
	}
	if kind, _ := scalar(g.jf.view, "sink.kind"); readsBeforeWrite[kind] {
		timeout *= 2
	}
	g.grace = int64((timeout + drainMargin + time.Second - 1) / time.Second)
	return nil
}

// bundle collects the job file, its mapping file and lookup tables (and
// small input files when there is no volume) for the ConfigMap. They keep
// their layout relative to one another, so the job file runs unchanged.
func (g *generator) bundle() error {
	abs, err := filepath.Abs(g.jf.path)
	if err != nil {
		return fmt.Errorf("job: %w", err)
	}
	g.files = []*bundled{{local: abs, ref: "the job file", data: g.jf.raw}}
	if err := g.checkSource(); err != nil {
		return err
	}

	if m, line := scalar(g.jf.view, "mapping"); m != "" && !strings.HasPrefix(m, mappings.Prefix) {
		f, err := g.add(placeRef{key: "mapping", value: m, line: line, dir: g.jf.dir, file: g.jf.path})
		if err != nil {
			return err
		}
		if f != nil {
			mp, err := transform.ParseMapping(f.local, f.data, filepath.Dir(f.local))
			if err != nil {
				return err
			}
			for _, l := range mp.Lookups {
				if _, err := g.add(placeRef{key: "lookups." + l.Name + ".file", value: l.File, line: l.Line, dir: l.Dir, file: f.local}); err != nil {
					return err
				}
			}
		}
	}
	if n := child(g.jf.view, "lookups"); n != nil {
		specs, err := transform.ParseLookups(g.jf.path, g.jf.dir, n)
		if err != nil {
			return err
		}
		for _, l := range specs {
			if _, err := g.add(placeRef{key: "lookups." + l.Name + ".file", value: l.File, line: l.Line, dir: l.Dir, file: g.jf.path}); err != nil {
				return err
			}
		}
	}
	return g.layout()
}

// placeRef is a file the job (or its mapping) names.
type placeRef struct {
	key, value string
	line       int
	dir        string // the value is relative to it
	file       string // the file that names it, for messages
	data       bool   // input data (may live on the volume) rather than configuration
	fromEnv    bool   // written with a ${VAR}: the Secret may name another file
}

func (r placeRef) errorf(format string, a ...any) error {
	return &Error{File: r.file, Line: r.line, Key: r.key, Reason: fmt.Sprintf(format, a...)}
}

// add decides where the pods read a file: from the volume (an absolute path
// below the mount; relative input paths keep their layout below it), or from
// the ConfigMap, in which case it reads it. It returns nil for the volume.
func (g *generator) add(r placeRef) (*bundled, error) {
	// Pod paths are slash paths, wherever the generator runs.
	abs := filepath.IsAbs(r.value) || strings.HasPrefix(filepath.ToSlash(r.value), "/")
	switch {
	case r.data && g.mount != "" && (r.fromEnv || strings.Contains(r.value, "${")):
		return nil, nil // the Secret's value (or the default) names a place on the volume
	case strings.Contains(r.value, "${"):
		return nil, r.errorf("%s comes from the Secret: the generator cannot bundle a file it cannot name; write the path%s", r.value, g.volumeHint(r))
	case abs:
		if g.mount != "" && within(g.mount, filepath.ToSlash(r.value)) {
			return nil, nil
		}
		if r.data {
			return nil, r.errorf("%s is not on a volume the pods have: give --volume CLAIM:/mount and the path below the mount", r.value)
		}
		return nil, r.errorf("%s is an absolute path: in the pods the job's files are below %s; write it relative to the file that names it, or put it on the volume (--volume CLAIM:/mount, then %s below the mount)", r.value, ConfigDir, r.key)
	case r.data && g.mount != "":
		rel := path.Clean(filepath.ToSlash(r.value))
		if rel == ".." || strings.HasPrefix(rel, "../") {
			return nil, r.errorf("%s leaves the job file's directory: on the volume, input paths keep their layout below the mount; say where it is: --set '%s=%s/…'", r.value, r.key, g.mount)
		}
		g.setArgs = append(g.setArgs, r.key+"="+g.mount+"/"+rel)
		return nil, nil
	}
	local, err := filepath.Abs(filepath.Join(r.dir, r.value))
	if err != nil {
		return nil, r.errorf("%v", err)
	}
	for _, f := range g.files {
		if f.local == local {
			return f, nil
		}
	}
	if strings.ContainsAny(r.value, "*?[") {
		return nil, r.errorf("%s is a pattern: the files it matches belong on a volume (--volume CLAIM:/mount)", r.value)
	}
	st, err := os.Stat(local)
	switch {
	case err != nil:
		return nil, r.errorf("%v", err)
	case st.IsDir():
		return nil, r.errorf("%s is a directory: its files belong on a volume (--volume CLAIM:/mount)", r.value)
	}
	data, err := os.ReadFile(local)
	if err != nil {
		return nil, r.errorf("%v", err)
	}
	f := &bundled{local: local, ref: r.key, data: data}
	g.files = append(g.files, f)
	return f, nil
}

func (g *generator) volumeHint(r placeRef) string {
	if r.data {
		return ", or give --volume CLAIM:/mount and the Secret's value as a path below the mount"
	}
	return ""
}

var notKey = regexp.MustCompile(`[^-._a-zA-Z0-9]+`)

// layout lays the bundled files out below ConfigDir as they lie relative to
// one another on this machine, names their keys, and checks the size.
func (g *generator) layout() error {
	total := 0
	for _, f := range g.files {
		total += len(f.data)
	}
	if total > maxConfigMapBytes {
		bySize := slices.Clone(g.files)
		slices.SortStableFunc(bySize, func(a, b *bundled) int { return len(b.data) - len(a.data) })
		var names []string
		for _, f := range bySize[:min(3, len(bySize))] {
			names = append(names, fmt.Sprintf("%s %s (%s)", f.ref, filepath.Base(f.local), sizeText(len(f.data))))
		}
		return &Error{File: g.jf.path, Key: "ConfigMap", Reason: fmt.Sprintf(
			"the job's files come to %s, more than a ConfigMap holds (%s); the largest: %s. Put input data on a volume (--volume CLAIM:/mount) and point large lookup tables there (--set lookups.NAME.file=/mount/…)",
			sizeText(total), sizeText(maxConfigMapBytes), strings.Join(names, ", "))}
	}
	root := filepath.Dir(g.files[0].local)
	for _, f := range g.files[1:] {
		root = commonDir(root, filepath.Dir(f.local))
	}
	used := map[string]bool{}
	for _, f := range g.files {
		rel, err := filepath.Rel(root, f.local)
		if err != nil {
			return fmt.Errorf("job: %w", err)
		}
		f.rel = filepath.ToSlash(rel)
		if !yamlText(f.rel) {
			return &Error{File: g.jf.path, Key: f.ref, Reason: fmt.Sprintf("the file name %q has control characters, which cannot go into a manifest", f.rel)}
		}
		f.key = uniqueKey(filepath.Base(f.local), used)
	}
	g.jobRel = g.files[0].rel
	return nil
}

func commonDir(a, b string) string {
	for !within(filepath.ToSlash(a), filepath.ToSlash(b)) {
		parent := filepath.Dir(a)
		if parent == a {
			return a
		}
		a = parent
	}
	return a
}

// uniqueKey makes a ConfigMap key from a file name: the characters the API
// allows, and a number when two files share a name.
func uniqueKey(base string, used map[string]bool) string {
	k := notKey.ReplaceAllString(base, "_")
	if strings.HasPrefix(k, "..") || k == "." {
		k = "_" + k
	}
	ext := filepath.Ext(k)
	stem := strings.TrimSuffix(k, ext)
	for i := 2; used[k]; i++ {
		k = fmt.Sprintf("%s-%d%s", stem, i, ext)
	}
	used[k] = true
	return k
}

func sizeText(n int) string {
	if n >= 1<<20 {
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	}
	return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
}

// configHash names the ConfigMap after its content: an immutable ConfigMap
// per version of the files, so every shard of one run reads the same job
// even when the files change while it runs.
func (g *generator) configHash() string {
	h := sha256.New()
	for _, f := range g.files {
		fmt.Fprintf(h, "%s\x00%s\x00%d\x00", f.key, f.rel, len(f.data))
		h.Write(f.data)
	}
	return hex.EncodeToString(h.Sum(nil))[:10]
}
