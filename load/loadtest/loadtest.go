// Package loadtest is the conformance suite every sink passes.
package loadtest

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/msgmigrate/msgmigrate/load"
	"github.com/msgmigrate/msgmigrate/msg"
	"github.com/msgmigrate/msgmigrate/transport"
)

// Fixture is a sink to check and a batch it must accept.
type Fixture struct {
	Open func(t *testing.T) load.Sink
	// Batch is a valid batch of at least two items (cut to the sink's
	// items a request).
	Batch func() *load.Batch
}

func (f Fixture) batch(s load.Sink) *load.Batch {
	b := f.Batch()
	if n := s.Options().MaxItems; n > 0 && len(b.Items) > n {
		b.Items = b.Items[:n]
	}
	return b
}

// Run checks the sink.
func Run(t *testing.T, f Fixture) {
	t.Run("OptionsAreUsable", func(t *testing.T) {
		s := f.Open(t)
		defer s.Close()
		o := s.Options()
		assert.GreaterOrEqual(t, o.MaxItems, 1)
		assert.GreaterOrEqual(t, o.Concurrency, 1)
		if o.MaxBytes > 0 {
			assert.Less(t, o.Overhead, o.MaxBytes)
		}
	})
	t.Run("OneResultPerItemAndAllLoaded", func(t *testing.T) {
		s := f.Open(t)
		defer s.Close()
		b := f.batch(s)
		require.NotEmpty(t, b.Items)
		res, err := s.Send(context.Background(), b)
		require.NoError(t, err)
		require.Len(t, res, len(b.Items))
		for i, r := range res {
			assert.Equal(t, load.Loaded, r.Status, "item %d: %s %s", i, r.Code, r.Message)
		}
	})
	t.Run("SendingAgainIsSafe", func(t *testing.T) {
		s := f.Open(t)
		defer s.Close()
		b := f.batch(s)
		first, err := s.Send(context.Background(), b)
		require.NoError(t, err)
		again, err := s.Send(context.Background(), b)
		require.NoError(t, err)
		require.Len(t, again, len(first))
		for i := range first {
			assert.Equal(t, first[i].Status, again[i].Status)
			assert.Equal(t, first[i].TargetID, again[i].TargetID, "a resent item keeps its identity")
		}
	})
	t.Run("CancelledIsNotPermanent", func(t *testing.T) {
		s := f.Open(t)
		defer s.Close()
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		_, err := s.Send(ctx, f.batch(s))
		if err == nil {
			return // a sink with nothing to wait for may finish anyway
		}
		assert.NotEqual(t, transport.Permanent, transport.ClassOf(err), "stopping a run must not fail its items: %v", err)
	})
}

// Items makes n items of one route with the given payload maker.
func Items(route msg.Route, n int, payload func(i int) (key string, body []byte)) *load.Batch {
	b := &load.Batch{Route: route}
	for i := range n {
		k, p := payload(i)
		b.Items = append(b.Items, &msg.Item{Key: k, Route: route, Payload: p})
		b.Bytes += len(p)
	}
	return b
}

// Each adapts a function of one result to the loader's Emit.
func Each(fn func(load.Result)) load.Emit {
	return func(rs []load.Result) error {
		for _, r := range rs {
			fn(r)
		}
		return nil
	}
}
