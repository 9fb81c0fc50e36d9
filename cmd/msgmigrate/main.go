// Command msgmigrate migrates message records between vendors: extract,
// map through a declarative mapping file, and bulk-load, resumably.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"syscall"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	_ "github.com/msgmigrate/msgmigrate/extract/all"
	"github.com/msgmigrate/msgmigrate/internal/progress"
	"github.com/msgmigrate/msgmigrate/job"
	_ "github.com/msgmigrate/msgmigrate/load/all"
)

// Exit codes, as DESIGN.md fixes them.
const (
	exitOK          = 0
	exitError       = 1
	exitFailed      = 2
	exitInterrupted = 3
)

// exitError carries an exit code out of a command.
type codeError struct {
	code int
	err  error
}

func (e *codeError) Error() string {
	if e.err == nil {
		return fmt.Sprintf("exit %d", e.code)
	}
	return e.err.Error()
}

type globals struct {
	logFormat string
	logLevel  string
	noProg    bool
	sets      []string
	stdout    io.Writer
	stderr    io.Writer
	term      *progress.Terminal // stderr while a progress line is drawn on it
}

// defaultMemoryLimit is the Go runtime's soft memory limit unless GOMEMLIMIT
// says otherwise. A run's live memory is bounded (open batches spill to disk,
// sink.batch.max_open_bytes caps the rest) at well under this, so the limit
// only stops the collector from letting garbage double the footprint.
const defaultMemoryLimit = 116 << 20

func main() {
	if _, set := os.LookupEnv("GOMEMLIMIT"); !set {
		debug.SetMemoryLimit(defaultMemoryLimit)
	}
	os.Exit(execute(os.Args[1:], os.Stdout, os.Stderr))
}

func execute(args []string, stdout, stderr io.Writer) int {
	g := &globals{stdout: stdout, stderr: stderr}
	root := newRoot(g)
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.SetArgs(args)
	err := root.Execute()
	if err == nil {
		return exitOK
	}
	var ce *codeError
	if errors.As(err, &ce) {
		if ce.err != nil {
			fmt.Fprintln(stderr, "msgmigrate:", ce.err)
		}
		return ce.code
	}
	fmt.Fprintln(stderr, "msgmigrate:", err)
	return exitError
}

// newRoot is the command tree.
func newRoot(g *globals) *cobra.Command {
	root := &cobra.Command{
		Use:   "msgmigrate",
		Short: "Migrate message records between vendors, resumably and fully accounted",
		Long: `msgmigrate extracts message records from files (CSV, JSON lines, XLSX, Parquet) or vendor APIs
(Gorgias, SuperOffice, tracezilla, EziManager), maps them through a declarative mapping file you
can check before anything is sent, and loads them — above all into myKaarma's historical
communications — with a ledger that makes every run resumable and every record accounted for.` + exitCodesHelp,
		Example: `  msgmigrate run examples/quickstart.yaml      # the quick start, into the in-process sandbox
  msgmigrate check job.yaml                     # reach source and sink, write nothing
  msgmigrate validate job.yaml                  # map every record, say what would fail
  msgmigrate status job.yaml --by code`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	pf := root.PersistentFlags()
	pf.StringVar(&g.logFormat, "log-format", "text", "log format: text or json")
	pf.StringVar(&g.logLevel, "log-level", "info", "log level: debug, info, warn, error")
	pf.BoolVar(&g.noProg, "no-progress", false, "no progress bar, even on a terminal")
	pf.StringArrayVar(&g.sets, "set", nil, "override a job key, e.g. --set sink.concurrency=16 (repeatable)")
	root.AddCommand(runCmd(g), validateCmd(g), previewCmd(g), retryCmd(g), statusCmd(g), idmapCmd(g), sandboxCmd(g), benchCmd(g), testCmd(g), lintCmd(g), schemaCmd(g), mappingsCmd(g), initCmd(g), k8sCmd(g), checkCmd(g), versionCmd(g), ledgerCmd(g))
	return root
}

func (g *globals) logger() (*slog.Logger, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(g.logLevel)); err != nil {
		return nil, fmt.Errorf("--log-level %q: %w", g.logLevel, err)
	}
	opts := &slog.HandlerOptions{Level: level}
	switch g.logFormat {
	case "text":
		return slog.New(slog.NewTextHandler(g.errWriter(), opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(g.errWriter(), opts)), nil
	}
	return nil, fmt.Errorf("--log-format %q: want text or json", g.logFormat)
}

// progressWriter is stderr when it is a terminal and progress is wanted.
func (g *globals) progressWriter() io.Writer {
	if g.term == nil && !g.noProg {
		if f, ok := g.stderr.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
			g.term = progress.NewTerminal(f)
		}
	}
	if g.term == nil {
		return nil // a nil *Terminal in an io.Writer would not be nil
	}
	return g.term
}

// errWriter is where log lines and messages go: through the progress
// line's terminal when there is one, so a warning is written above the line
// instead of over it.
func (g *globals) errWriter() io.Writer {
	if w := g.progressWriter(); w != nil {
		return w
	}
	return g.stderr
}

func (g *globals) loadJob(path string) (*job.Job, error) {
	return job.Load(path, g.sets, os.LookupEnv)
}

// unsetMark stands in for an environment variable a reading command does not
// have: status and idmap read the ledger and need no sink credentials.
const unsetMark = "msgmigrate-unset-"

// loadJobToRead loads a job for a command that only reads its ledger: a
// variable that is not set is no error unless the state needs it.
func (g *globals) loadJobToRead(path string) (*job.Job, error) {
	var unset []string
	j, err := job.Load(path, g.sets, func(name string) (string, bool) {
		if v, ok := os.LookupEnv(name); ok {
			return v, ok
		}
		unset = append(unset, name)
		return unsetMark + name, true
	})
	if err != nil {
		return nil, err
	}
	for _, name := range unset {
		if strings.Contains(j.State, unsetMark+name) {
			return nil, fmt.Errorf("%s: the state needs environment variable %s, which is not set", path, name)
		}
	}
	return j, nil
}

// signalContexts: the first SIGINT/SIGTERM drains (stop reading, finish what
// is in flight, record it); a second one stops at once.
func signalContexts(stderr io.Writer) (hard, drain context.Context, stop func()) {
	hard, cancelHard := context.WithCancel(context.Background())
	drain, cancelDrain := context.WithCancel(context.Background())
	ch := make(chan os.Signal, 2)
	signal.Notify(ch, os.Interrupt, syscall.SIGTERM)
	go func() {
		n := 0
		for range ch {
			n++
			if n == 1 {
				fmt.Fprintln(stderr, "msgmigrate: stopping: finishing requests in flight (interrupt again to stop at once)")
				cancelDrain()
				continue
			}
			cancelHard()
		}
	}()
	return hard, drain, func() {
		signal.Stop(ch)
		cancelDrain()
		cancelHard()
	}
}
