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
		recs, errs := ReadAll(t, src)
		var good []map[string]any
		var bad []string
		for _, me := range errs {
			assert.Equal(t, msg.StageRead, me.Stage, "a reading error has stage read")
			assert.Contains(t, me.Error(), me.Origin.String(), "the error names its origin")
			bad = append(bad, me.Origin.String())
		}
		seen := map[string]bool{}
		for _, rec := range recs {
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

// ReadAll reads src to the end: the records, and the records that failed to
// read (which cost only themselves). Any other error fails the test.
func ReadAll(t testing.TB, src extract.Source) (recs []*msg.Record, errs []*msg.Error) {
	t.Helper()
	for {
		rec, err := src.Next(context.Background())
		// A record's failure first: one that wraps io.EOF is not the end.
		var me *msg.Error
		if errors.As(err, &me) {
			errs = append(errs, me)
			continue
		}
		if errors.Is(err, io.EOF) {
			return recs, errs
		}
		require.NoError(t, err)
		require.NotNil(t, rec)
		recs = append(recs, rec)
	}
}

// ReadFields is ReadAll as a user sees it: the records' fields, and the
// failed records' messages.
func ReadFields(t testing.TB, src extract.Source) (fields []map[string]any, errs []string) {
	t.Helper()
	recs, failed := ReadAll(t, src)
	for _, r := range recs {
		fields = append(fields, r.Fields)
	}
	for _, e := range failed {
		errs = append(errs, e.Error())
	}
	return fields, errs
}
