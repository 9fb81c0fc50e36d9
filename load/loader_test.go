package load_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/msgmigrate/msgmigrate/load"
	"github.com/msgmigrate/msgmigrate/load/loadtest"
	"github.com/msgmigrate/msgmigrate/msg"
	"github.com/msgmigrate/msgmigrate/transport"
)

// refusingSink answers every request as a server that refuses the
// credentials does, once the pacer has seen enough of them.
type refusingSink struct{ sent atomic.Int64 }

func (s *refusingSink) Send(context.Context, *load.Batch) ([]load.ItemResult, error) {
	s.sent.Add(1)
	return nil, &transport.FatalError{Service: "sink test", Count: 3,
		Last: &transport.Error{Class: transport.Fatal, Kind: transport.KindAuth, Status: 401}}
}
func (s *refusingSink) Options() load.Options { return load.Options{MaxItems: 10, Concurrency: 4} }
func (s *refusingSink) Close() error          { return nil }

// A fatal answer ends Run while the source still has batches to give: the
// run stops now, not once every record has been read and set aside. The
// batches channel is never closed here: a Run that waited for its end would
// never return.
func TestAFatalAnswerEndsTheRunBeforeTheSourceEnds(t *testing.T) {
	in := make(chan *load.Batch)
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		for i := 0; ; i++ {
			b := loadtest.Items(msg.Route{"r"}, 10, func(j int) (string, []byte) { return string(rune('a'+i%26)) + string(rune('a'+j)), []byte("{}") })
			select {
			case in <- b:
			case <-stop:
				return
			}
		}
	}()
	sink := &refusingSink{}
	err := load.NewLoader(sink).Run(context.Background(), context.Background(), in, func([]load.Result) error { return nil })
	var fatal *transport.FatalError
	require.True(t, errors.As(err, &fatal), "%v", err)
	assert.LessOrEqual(t, sink.sent.Load(), int64(4), "no worker sends after another's fatal answer has ended the run")
}
