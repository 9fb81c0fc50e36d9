// Package extracttest is the conformance suite every source passes: one
// place that says what "a correct source" means.
package extracttest

import (
	"context"
	"errors"
	"io"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/msgmigrate/msgmigrate/extract"
	"github.com/msgmigrate/msgmigrate/msg"
)

// Fixture is a source over known data and what it must yield.
type Fixture struct {
	// Open opens a fresh source over the same data each time it is called.
	Open func(t *testing.T) extract.Source
	// Records are the good records' fields, in order.
	Records []map[string]any
	// Bad are the origins of the records that must fail to read, in order.
	Bad []string
}

// Run checks a source against the fixture.
func Run(t *testing.T, f Fixture) {
	t.Run("YieldsEveryRecordOnceInOrder", func(t *testing.T) {
		src := f.Open(t)
		defer src.Close()
		var good []map[string]any
		var bad []string
		seen := map[string]bool{}
		for {
			rec, err := src.Next(context.Background())
			if errors.Is(err, io.EOF) {
				break
			}
			var me *msg.Error
			if errors.As(err, &me) {
				assert.Equal(t, msg.StageRead, me.Stage, "a reading error has stage read")
				assert.Contains(t, me.Error(), me.Origin.String(), "the error names its origin")
				bad = append(bad, me.Origin.String())
				continue
			}
			require.NoError(t, err)
			require.NotNil(t, rec)
			o := rec.Origin.String()
			assert.False(t, seen[o], "origin %s given twice", o)
			seen[o] = true
			good = append(good, rec.Fields)
		}
		assert.Equal(t, f.Records, good)
		assert.Equal(t, f.Bad, bad)
	})
	t.Run("EOFIsSticky", func(t *testing.T) {
		src := f.Open(t)
		defer src.Close()
		for {
			_, err := src.Next(context.Background())
			if errors.Is(err, io.EOF) {
				break
			}
		}
		_, err := src.Next(context.Background())
		assert.ErrorIs(t, err, io.EOF)
	})
	t.Run("HonoursCancellation", func(t *testing.T) {
		src := f.Open(t)
		defer src.Close()
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		_, err := src.Next(ctx)
		assert.ErrorIs(t, err, context.Canceled)
	})
	t.Run("ProgressWithinTotal", func(t *testing.T) {
		src := f.Open(t)
		defer src.Close()
		p, ok := src.(extract.Progress)
		if !ok {
			t.Skip("source does not report progress")
		}
		for {
			_, err := src.Next(context.Background())
			if errors.Is(err, io.EOF) {
				break
			}
			done, total := p.Progress()
			if total > 0 {
				assert.LessOrEqual(t, done, total)
			}
		}
		done, total := p.Progress()
		if total > 0 {
			assert.Equal(t, total, done, "at the end all of it is read")
		}
	})
}
