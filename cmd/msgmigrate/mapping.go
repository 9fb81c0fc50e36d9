package main

// The mapping commands: test, lint, schema, mappings and init. They work on
// a mapping file (or builtin:NAME) without a job.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"go.yaml.in/yaml/v3"

	"github.com/msgmigrate/msgmigrate/config"
	"github.com/msgmigrate/msgmigrate/extract"
	"github.com/msgmigrate/msgmigrate/mappings"
	"github.com/msgmigrate/msgmigrate/msg"
	"github.com/msgmigrate/msgmigrate/schema"
	"github.com/msgmigrate/msgmigrate/transform"
)

const exitCodesMapping = `

Exit codes: 0 ok · 1 an error (the mapping, a file or a flag), named with its file and line.`

// mappingRef is a mapping named on the command line, with its test cases.
type mappingRef struct {
	File      string // the path, or builtin:NAME: how messages name it
	Data      []byte
	Dir       string // its lookup files are relative to it
	CasesFile string
	Cases     []byte // nil: it has none
}

// readMapping reads a mapping file, builtin:NAME, or the mapping beside a
// NAME.test.yaml.
func readMapping(arg string) (*mappingRef, error) {
	if name, ok := strings.CutPrefix(arg, mappings.Prefix); ok {
		data, err := mappings.Read(name)
		if err != nil {
			return nil, err
		}
		ref := &mappingRef{File: arg, Data: data, Dir: ".", CasesFile: arg + ".test.yaml"}
		if c, ok := mappings.Tests(name); ok {
			ref.Cases = c
		}
		return ref, nil
	}
	path := arg
	if base, ok := strings.CutSuffix(arg, ".test.yaml"); ok {
		path = base + ".yaml"
		if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
			if _, err := os.Stat(base + ".yml"); err == nil {
				path = base + ".yml"
			}
		}
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("mapping: %w", err)
	}
	ref := &mappingRef{File: path, Data: data, Dir: filepath.Dir(path), CasesFile: transform.CasesFile(path)}
	switch c, err := os.ReadFile(ref.CasesFile); {
	case err == nil:
		ref.Cases = c
	case !errors.Is(err, fs.ErrNotExist):
		return nil, err
	}
	return ref, nil
}

func parseTimezone(tz string) (*time.Location, error) {
	if tz == "" {
		return time.UTC, nil
	}
	loc, err := time.LoadLocation(tz)
	if err != nil {
		return nil, fmt.Errorf("--timezone %q: %w", tz, err)
	}
	return loc, nil
}

func testCmd(g *globals) *cobra.Command {
	var tz string
	c := &cobra.Command{
		Use:   "test MAPPING [MAPPING…]",
		Short: "Run a mapping's test cases: each input record must give its payload, route, key, skip or error",
		Long: `Run the test cases kept beside a mapping: NAME.test.yaml for NAME.yaml (a built-in's are
embedded). MAPPING is a mapping file, its NAME.test.yaml, a directory (every *.test.yaml in it),
or builtin:NAME. Each case maps one input record and checks what comes out:

  timezone: Europe/Berlin          # optional: the job's timezone (default --timezone, UTC)
  lookups:                         # optional: inline tables, so a test needs no files
    customers: {"ann@example.com": 0b1c2d3e-4f50-4617-8a9b-0c1d2e3f4a5b}
  cases:
    - name: an outbound SMS
      input: {id: "1", channel: sms, body_text: Hi}   # as the source gives it: CSV cells are text
      payload: {sourceUuid: …, messageAttributes: {body: Hi}}   # compared as JSON, every field
      route: {department: …, customer: …}             # optional, with payload
      key: …                                          # optional, with payload
    - name: notes are skipped
      input: {channel: internal-note}
      skip: true
    - name: a bad date
      input: {sent_at: yesterday}
      error: 'sentOn: cannot parse'                   # a part of the record's error message

A case may also set its own timezone and lookups. One line per case (ok or FAIL, the case's file
and line, its name); a failure says each difference by path, then what came out.

Exit codes: 0 every case passed · 2 some case failed (as validate and run: finished, with
failures) · 1 a mapping or a test file could not be read or compiled.`,
		Example: `  msgmigrate test builtin:csv-to-mykaarma
  msgmigrate test mappings/              # every *.test.yaml in the directory
  msgmigrate test crm.mapping.yaml --timezone Europe/Berlin`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			loc, err := parseTimezone(tz)
			if err != nil {
				return err
			}
			var refs []string
			for _, a := range args {
				if st, err := os.Stat(a); err == nil && st.IsDir() {
					found, _ := filepath.Glob(filepath.Join(a, "*.test.yaml"))
					if len(found) == 0 {
						return fmt.Errorf("%s: no *.test.yaml in the directory", a)
					}
					refs = append(refs, found...)
					continue
				}
				refs = append(refs, a)
			}
			passed, failed := 0, 0
			var errs []error
			for _, a := range refs {
				p, f, err := g.runCases(a, loc)
				passed += p
				failed += f
				if err != nil {
					fmt.Fprintf(g.stdout, "ERROR %s\n", a)
					errs = append(errs, err)
				}
			}
			fmt.Fprintf(g.stdout, "%d passed, %d failed\n", passed, failed)
			if err := errors.Join(errs...); err != nil {
				return err
			}
			if failed > 0 {
				return &codeError{code: exitFailed}
			}
			return nil
		},
	}
	c.Flags().StringVar(&tz, "timezone", "", "the job's timezone, for test files that set none (default UTC)")
	return c
}

// runCases runs one mapping's test cases and prints a line per case.
func (g *globals) runCases(arg string, loc *time.Location) (passed, failed int, err error) {
	ref, err := readMapping(arg)
	if err != nil {
		return 0, 0, err
	}
	if ref.Cases == nil {
		return 0, 0, fmt.Errorf("%s: no test cases: write them in %s", ref.File, ref.CasesFile)
	}
	m, err := transform.ParseMapping(ref.File, ref.Data, ref.Dir)
	if err != nil {
		return 0, 0, err
	}
	suite, err := transform.ParseSuite(ref.CasesFile, ref.Cases)
	if err != nil {
		return 0, 0, err
	}
	results, err := transform.RunSuite(m, suite, transform.Options{Location: loc})
	if err != nil {
		return 0, 0, err
	}
	for _, r := range results {
		status := "ok  "
		if !r.Passed() {
			status = "FAIL"
			failed++
		} else {
			passed++
		}
		fmt.Fprintf(g.stdout, "%s  %s:%d  %s\n", status, suite.File, r.Case.Line, r.Case.Name)
		for _, l := range r.Failure {
			fmt.Fprintf(g.stdout, "        %s\n", l)
		}
	}
	return passed, failed, nil
}

func lintCmd(g *globals) *cobra.Command {
	var tz, columnsFrom string
	c := &cobra.Command{
		Use:   "lint MAPPING [MAPPING…]",
		Short: "Compile a mapping without a job: target fields, types, enums, route, key, expressions",
		Long: `Compile a mapping file (or builtin:NAME) as a job would, without the job: every target field
checked against the sink's schema, every expression compiled, every lookup file the mapping
declares read (relative to the mapping's directory). A lookup table the mapping uses without
declaring it is one the job must give: lint names it. --columns-from FILE also checks every
row.X against the columns of a data file (a CSV's header; a source that knows its columns
before reading), as validate does with the job's source.` + exitCodesMapping,
		Example: `  msgmigrate lint crm.mapping.yaml
  msgmigrate lint crm.mapping.yaml --columns-from export.csv --timezone Europe/Berlin
  msgmigrate lint builtin:gorgias-to-mykaarma`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			loc, err := parseTimezone(tz)
			if err != nil {
				return err
			}
			var known []string
			if columnsFrom != "" {
				p, err := peek(cmd.Context(), columnsFrom, 0)
				if err != nil {
					return err
				}
				if !p.known {
					fmt.Fprintf(g.stderr, "msgmigrate: %s: the %s source does not know its columns before reading: columns not checked\n", columnsFrom, p.kind)
				}
				known = p.columns
				if !p.known {
					known = nil
				}
			}
			var errs []error
			for _, a := range args {
				if err := g.lint(a, loc, known); err != nil {
					errs = append(errs, err)
				}
			}
			return errors.Join(errs...)
		},
	}
	c.Flags().StringVar(&tz, "timezone", "", "the job's timezone, for literal times (default UTC)")
	c.Flags().StringVar(&columnsFrom, "columns-from", "", "check row.X against this data file's columns (.csv, .xlsx, .parquet)")
	return c
}

func (g *globals) lint(arg string, loc *time.Location, known []string) error {
	ref, err := readMapping(arg)
	if err != nil {
		return err
	}
	m, err := transform.ParseMapping(ref.File, ref.Data, ref.Dir)
	if err != nil {
		return err
	}
	p, err := transform.Compile(m, transform.Options{Location: loc, TablesFromJob: true})
	if err != nil {
		return err
	}
	errs, unread := p.CheckColumns(known)
	if err := errors.Join(errs...); err != nil {
		return err
	}
	fmt.Fprintf(g.stdout, "%s: ok (sink %s, %d fields)\n", ref.File, p.Schema.Sink, len(p.Fields()))
	if len(p.JobTables) > 0 {
		fmt.Fprintf(g.stdout, "  the job must give the lookup tables %s (lookups: in the job file)\n", strings.Join(p.JobTables, ", "))
	}
	if h := transform.UnreadHint(unread); h != "" {
		fmt.Fprintln(g.stdout, "  "+h)
	}
	return nil
}

func schemaCmd(g *globals) *cobra.Command {
	var output string
	c := &cobra.Command{
		Use:   "schema [SINK]",
		Short: "Print what a sink accepts: its fields (type, required, enum, max length, time layout), route and key",
		Long: `Print a sink's target schema, the one mappings are compiled against: every field by its dotted
path (a list's items as path[].field), its type, whether it is required, the values it accepts,
its maximum length, how a time is sent; the route parameters; the key field; the fields of which
one at least must have a value; the fields a mapping may not set, and why. Without SINK, list
the sinks that have a schema. -o json prints the same as JSON.` + exitCodesMapping,
		Example: `  msgmigrate schema mykaarma
  msgmigrate schema gorgias -o json`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if output != "text" && output != "json" {
				return fmt.Errorf("-o %q: want text or json", output)
			}
			if len(args) == 0 {
				if output == "json" {
					return writeJSON(g.stdout, schema.Sinks())
				}
				for _, s := range schema.Sinks() {
					fmt.Fprintln(g.stdout, s)
				}
				return nil
			}
			s, ok := schema.Lookup(args[0])
			if !ok {
				return fmt.Errorf("sink %q has no schema (known: %s)", args[0], strings.Join(schema.Sinks(), ", "))
			}
			if output == "json" {
				return writeJSON(g.stdout, schemaJSON(s))
			}
			printSchema(g.stdout, s)
			return nil
		},
	}
	c.Flags().StringVarP(&output, "output", "o", "text", "text or json")
	return c
}

type fieldJSON struct {
	Path       string      `json:"path"`
	Type       string      `json:"type"`
	Required   bool        `json:"required,omitempty"`
	Enum       []string    `json:"enum,omitempty"`
	MaxLength  int         `json:"max_length,omitempty"`
	TimeLayout string      `json:"time_layout,omitempty"`
	Forbidden  string      `json:"forbidden,omitempty"`
	Items      []fieldJSON `json:"items,omitempty"`
}

type schemaOut struct {
	Sink   string      `json:"sink"`
	Route  []string    `json:"route"`
	Key    string      `json:"key,omitempty"`
	OneOf  [][]string  `json:"one_of,omitempty"`
	Fields []fieldJSON `json:"fields"`
}

// defaultTimeLayout is how a Time field is sent unless it says otherwise.
const defaultTimeLayout = "RFC 3339, UTC, milliseconds (2025-03-28T11:34:43.227Z)"

func fieldsJSON(fs []schema.Field) []fieldJSON {
	out := make([]fieldJSON, 0, len(fs))
	for _, f := range fs {
		fj := fieldJSON{Path: f.Path, Type: f.Type.String(), Required: f.Required, Enum: f.Enum, MaxLength: f.MaxLen,
			Forbidden: f.Forbid, Items: fieldsJSON(f.Items)}
		if f.Type == schema.Time {
			fj.TimeLayout = f.TimeLayout
			if fj.TimeLayout == "" {
				fj.TimeLayout = defaultTimeLayout
			}
		}
		if len(fj.Items) == 0 {
			fj.Items = nil
		}
		out = append(out, fj)
	}
	return out
}

func schemaJSON(s *schema.Schema) schemaOut {
	return schemaOut{Sink: s.Sink, Route: s.Route, Key: s.Key, OneOf: s.OneOf, Fields: fieldsJSON(s.Fields)}
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func printSchema(w io.Writer, s *schema.Schema) {
	fmt.Fprintf(w, "sink %s\n", s.Sink)
	if len(s.Route) > 0 {
		fmt.Fprintf(w, "route: %s   (route: in the mapping; each item is sent there)\n", strings.Join(s.Route, ", "))
	}
	if s.Key != "" {
		fmt.Fprintf(w, "key:   %s   (the item's idempotency key: the same on every run)\n", s.Key)
	} else {
		fmt.Fprintln(w, "key:   the sink and the route (the route names the record)")
	}
	for _, g := range s.OneOf {
		fmt.Fprintf(w, "one of %s must have a value\n", strings.Join(g, ", "))
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 2, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "FIELD\tTYPE\tREQUIRED\tACCEPTS")
	var rows func(prefix string, fs []fieldJSON)
	rows = func(prefix string, fs []fieldJSON) {
		for _, f := range fs {
			var notes []string
			if len(f.Enum) > 0 {
				notes = append(notes, "one of "+strings.Join(f.Enum, ", "))
			}
			switch {
			case f.MaxLength == 1:
				notes = append(notes, "one character")
			case f.MaxLength > 0:
				notes = append(notes, fmt.Sprintf("at most %d characters", f.MaxLength))
			}
			if f.TimeLayout != "" {
				notes = append(notes, "sent as "+f.TimeLayout)
			}
			if f.Forbidden != "" {
				notes = append(notes, "may not be mapped: "+f.Forbidden)
			}
			req := ""
			if f.Required {
				req = "yes"
			}
			fmt.Fprintf(tw, "%s%s\t%s\t%s\t%s\n", prefix, f.Path, f.Type, req, strings.Join(notes, "; "))
			rows(prefix+f.Path+"[].", f.Items)
		}
	}
	rows("", fieldsJSON(s.Fields))
	tw.Flush()
}

func mappingsCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "mappings [NAME]",
		Short: "List the built-in mappings, or print one",
		Long: `Without NAME, list the built-in mappings (use them as mapping: builtin:NAME in a job) with
their sink, their test cases and the first line of their header. With NAME, print the mapping,
to read it or to start a mapping of your own from it.` + exitCodesMapping,
		Example: `  msgmigrate mappings
  msgmigrate mappings csv-to-mykaarma > my-mapping.yaml`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 {
				data, err := mappings.Read(strings.TrimPrefix(args[0], mappings.Prefix))
				if err != nil {
					return err
				}
				_, err = g.stdout.Write(data)
				return err
			}
			tw := tabwriter.NewWriter(g.stdout, 2, 8, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tSINK\tTESTS\tDESCRIPTION")
			for _, name := range mappings.Names() {
				data, err := mappings.Read(name)
				if err != nil {
					return err
				}
				sink := "?"
				if m, err := transform.ParseMapping(name, data, "."); err == nil {
					sink = m.Sink
				}
				tests := "-"
				if c, ok := mappings.Tests(name); ok {
					if s, err := transform.ParseSuite(name, c); err == nil {
						tests = fmt.Sprintf("%d cases", len(s.Cases))
					}
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", mappings.Prefix+name, sink, tests, headerLine(data))
			}
			return tw.Flush()
		},
	}
}

// headerLine is the first line of a mapping's header comment.
func headerLine(data []byte) string {
	for _, l := range strings.Split(string(data), "\n") {
		l = strings.TrimSpace(l)
		if !strings.HasPrefix(l, "#") {
			return ""
		}
		if l = strings.TrimSpace(strings.TrimLeft(l, "#")); l != "" {
			return l
		}
	}
	return ""
}

// fileKinds are the file sources init and lint know by their extension.
var fileKinds = map[string]string{
	".csv": "csv", ".tsv": "csv", ".txt": "csv",
	".xlsx":    "xlsx",
	".parquet": "parquet",
	".jsonl":   "jsonl", ".ndjson": "jsonl",
}

// peeked is what a look at a data file shows.
type peeked struct {
	kind    string
	columns []string
	known   bool // the source knew its columns before reading
	samples []map[string]any
}

// peek opens a data file as the source its name says and returns its
// columns and up to n records. A source that does not know its columns
// before reading (JSON lines) gets the names its first records use.
func peek(ctx context.Context, path string, n int) (*peeked, error) {
	kind := fileKinds[strings.ToLower(filepath.Ext(path))]
	if st, err := os.Stat(path); err == nil && st.IsDir() {
		kind = "parquet" // a directory of part files
	} else if err != nil {
		return nil, err
	}
	if kind == "" {
		return nil, fmt.Errorf("%s: cannot tell the file's kind from its name (known: .csv, .tsv, .xlsx, .parquet, .jsonl)", path)
	}
	str := func(v string) *yaml.Node { return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: v} }
	node := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", Content: []*yaml.Node{str("kind"), str(kind), str("path"), str(path)}}
	src, err := extract.Open(ctx, kind, config.Section{File: path, Node: node}, extract.Env{})
	if err != nil {
		return nil, err
	}
	defer src.Close()
	p := &peeked{kind: kind}
	if c, ok := src.(extract.Columns); ok {
		p.columns = c.Columns()
		p.known = p.columns != nil
	}
	if h, ok := src.(interface{ Header() []string }); ok && !p.known {
		p.columns, p.known = h.Header(), true
	}
	for len(p.samples) < n {
		rec, err := src.Next(ctx)
		if errors.Is(err, io.EOF) {
			break
		}
		var me *msg.Error
		if errors.As(err, &me) {
			continue
		}
		if err != nil {
			return nil, err
		}
		p.samples = append(p.samples, rec.Fields)
		if !p.known {
			var names []string
			for k := range rec.Fields {
				if !slices.Contains(p.columns, k) {
					names = append(names, k)
				}
			}
			slices.Sort(names)
			p.columns = append(p.columns, names...)
		}
	}
	return p, nil
}

// sinkSections are the sink keys init writes, credentials from the
// environment (defaults for the sandbox, as the examples have them).
var sinkSections = map[string]string{
	"mykaarma": `  url: ${MYKAARMA_URL:-sandbox}        # "sandbox" = the built-in fake, in process; then https://api.mykaarma.com/communications
  username: ${MYKAARMA_USER:-sandbox}
  password: ${MYKAARMA_PASSWORD:-sandbox}
  batch: {max_items: 100, max_bytes: 1MiB}
  concurrency: 8
  rate: 20/s                           # TODO: what the target allows
`,
	"gorgias": `  url: ${GORGIAS_URL:-sandbox}         # https://{subdomain}.gorgias.com/api
  username: ${GORGIAS_EMAIL:-ops@shop.example}
  api_key: ${GORGIAS_API_KEY:-sandbox}
`,
	"superoffice": `  url: ${SUPEROFFICE_URL:-sandbox}     # https://{env}.superoffice.com/{CustNNNNN}/api/v1
  token: ${SUPEROFFICE_TOKEN:-sandbox}
`,
	"tracezilla": `  url: ${TRACEZILLA_URL:-sandbox}      # https://app.tracezilla.com/api/v1/{team}
  token: ${TRACEZILLA_TOKEN:-sandbox}
`,
	"ezimanager": `  url: ${EZIMANAGER_URL:-sandbox}
  email: ${EZIMANAGER_EMAIL:-ops@store.example}
  password: ${EZIMANAGER_PASSWORD:-sandbox}
`,
}

func initCmd(g *globals) *cobra.Command {
	var from, sink, out, name string
	c := &cobra.Command{
		Use:   "init --from FILE",
		Short: "Write a starter job and mapping from a data file's columns",
		Long: `Read a data file's columns (a CSV's header, an XLSX sheet's, a Parquet schema; a JSON-lines
file's first records) and a few of its records, and write NAME.job.yaml and NAME.mapping.yaml
beside each other in --out: a guess per target field from the column names (id → sourceUuid
through uuid5, a date → sentOn with its layout, body/text/message → the body, subject,
direction → the type, channel → the protocol, …) and a "# TODO" on each guess to check and each
required value it could not guess (written as TODO, which lint refuses until it is done).
Existing files are never overwritten. Then:
  msgmigrate lint NAME.mapping.yaml --columns-from FILE
  msgmigrate validate NAME.job.yaml` + exitCodesMapping,
		Example: `  msgmigrate init --from export/messages.csv
  msgmigrate init --from crm.xlsx --out jobs --name crm`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if from == "" {
				return errors.New("--from FILE is required: the data file to read the columns of")
			}
			s, ok := schema.Lookup(sink)
			if !ok {
				return fmt.Errorf("--sink %q has no schema (known: %s)", sink, strings.Join(schema.Sinks(), ", "))
			}
			if name == "" {
				name = strings.TrimSuffix(filepath.Base(from), filepath.Ext(from))
			}
			jobPath := filepath.Join(out, name+".job.yaml")
			mapPath := filepath.Join(out, name+".mapping.yaml")
			for _, p := range []string{jobPath, mapPath} {
				if _, err := os.Stat(p); err == nil {
					return fmt.Errorf("%s exists: init never overwrites a file (remove it, or choose --out or --name)", p)
				}
			}
			p, err := peek(cmd.Context(), from, 20)
			if err != nil {
				return err
			}
			if len(p.columns) == 0 {
				return fmt.Errorf("%s: no columns found", from)
			}
			mapping, todos := transform.StarterMapping(s, transform.Starter{Name: name, Source: filepath.Base(from), File: filepath.Base(mapPath), Columns: p.columns, Samples: p.samples})
			job, err := starterJob(name, from, out, p.kind, sink)
			if err != nil {
				return err
			}
			if err := os.MkdirAll(out, 0o755); err != nil {
				return err
			}
			if err := writeNew(mapPath, mapping); err != nil {
				return err
			}
			if err := writeNew(jobPath, job); err != nil {
				return err
			}
			fmt.Fprintf(g.stdout, "wrote %s and %s (%d TODOs to check)\n", jobPath, mapPath, todos)
			fmt.Fprintf(g.stdout, "next:\n  msgmigrate lint %s --columns-from %s\n  msgmigrate validate %s\n", mapPath, from, jobPath)
			return nil
		},
	}
	c.Flags().StringVar(&from, "from", "", "the data file (.csv, .tsv, .xlsx, .parquet or a directory of them, .jsonl)")
	c.Flags().StringVar(&sink, "sink", "mykaarma", "the sink to map to")
	c.Flags().StringVar(&out, "out", ".", "the directory to write the job and the mapping in")
	c.Flags().StringVar(&name, "name", "", "the files' name, and uuid5's namespace (default: the data file's name)")
	return c
}

func starterJob(name, from, out, kind, sink string) ([]byte, error) {
	absFrom, err := filepath.Abs(from)
	if err != nil {
		return nil, err
	}
	absOut, err := filepath.Abs(out)
	if err != nil {
		return nil, err
	}
	// Relative to the job when it is near it (a run works from anywhere).
	path := absFrom
	if rel, err := filepath.Rel(absOut, absFrom); err == nil && !strings.HasPrefix(rel, "../..") {
		path = filepath.ToSlash(rel)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "# A first job for %s, written by msgmigrate init. Check the TODOs here and in\n", filepath.Base(from))
	fmt.Fprintf(&b, "# %s.mapping.yaml, then:\n", name)
	fmt.Fprintf(&b, "#   msgmigrate validate %s.job.yaml\n#   msgmigrate run %s.job.yaml --dry-run\n", name, name)
	b.WriteString("# Relative paths are relative to this file.\n")
	fmt.Fprintf(&b, "source:\n  kind: %s\n  path: %s\n", kind, yamlScalar(path))
	fmt.Fprintf(&b, "mapping: %s.mapping.yaml\n", name)
	fmt.Fprintf(&b, "sink:\n  kind: %s\n", sink)
	if sec, ok := sinkSections[sink]; ok {
		b.WriteString(sec)
	} else {
		b.WriteString("  # TODO: the sink's url and credentials (from the environment: ${VAR})\n")
	}
	b.WriteString("# timezone: Europe/Berlin             # TODO: how times without an offset are read (default UTC)\n")
	return []byte(b.String()), nil
}

// yamlScalar quotes a path YAML would read otherwise.
func yamlScalar(s string) string {
	var n yaml.Node
	if err := n.Encode(s); err == nil && n.Style == 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", "''") + "'"
}

// writeNew writes a file that must not exist yet.
func writeNew(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		if errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("%s exists: init never overwrites a file", path)
		}
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
