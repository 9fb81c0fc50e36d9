package pipeline_test

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/msgmigrate/msgmigrate/config"
	"github.com/msgmigrate/msgmigrate/extract"
	"github.com/msgmigrate/msgmigrate/msg"
	"github.com/msgmigrate/msgmigrate/sandbox"
)

// slowOpen is a source whose opening takes a while, as a large XLSX's does.
type slowOpen struct{}

func (slowOpen) Next(context.Context) (*msg.Record, error) { return nil, io.EOF }
func (slowOpen) Close() error                              { return nil }

const opening = 300 * time.Millisecond

func init() {
	extract.Register("test-slow-open", func(context.Context, config.Section, extract.Env) (extract.Source, error) {
		time.Sleep(opening) // the work of opening, not a wait for another goroutine
		return slowOpen{}, nil
	})
}

// Issue 12 (6): duration_seconds counts opening the source (20 s of XLSX
// opening was reported as 0.3 s).
func TestTheDurationCountsOpeningTheSource(t *testing.T) {
	h := newHarness(t, "", sandbox.Faults{}, "")
	require.NoError(t, os.WriteFile(filepath.Join(h.dir, "job.yaml"), []byte("source: {kind: test-slow-open}\nmapping: builtin:csv-to-mykaarma\nsink: {kind: jsonl, path: out.jsonl}\n"), 0o644))
	rep := h.run()
	assert.GreaterOrEqual(t, rep.DurationSeconds, opening.Seconds())
}
