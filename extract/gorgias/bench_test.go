package gorgias

import (
	"context"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/msgmigrate/msgmigrate/extract"
	"github.com/msgmigrate/msgmigrate/msg"
	"github.com/msgmigrate/msgmigrate/sandbox"
)

// BenchmarkExtractAtTheAccountBudget pages 6000 messages out of a fake with
// the real bucket (40 requests, leaking 2 a second) using the default
// client budget (95% of 40 per 20 s, burst 38) and the call-limit header:
// how fast, and how close to the budget, without a single 429.
//
//	go test ./extract/gorgias -run XXX -bench AccountBudget -benchtime 1x
func BenchmarkExtractAtTheAccountBudget(b *testing.B) {
	for range b.N {
		s := sandbox.Start(sandbox.Config{Gorgias: sandbox.GorgiasConfig{Email: "ops@shop.example", APIKey: "k3y", Messages: 6000}})
		t0 := time.Now()
		src := openSourceB(b, s)
		n := 0
		for {
			_, err := src.Next(context.Background())
			if errors.Is(err, io.EOF) {
				break
			}
			var sk *msg.Skip
			if !errors.As(err, &sk) {
				require.NoError(b, err)
			}
			n++
		}
		el := time.Since(t0).Seconds()
		require.Equal(b, 6000, n)
		b.ReportMetric(float64(n)/el, "messages/s")
		b.ReportMetric(float64(src.client.T.Pacer.Stats.Requests.Load())/el, "requests/s")
		b.ReportMetric(float64(s.Gorgias.Stats.Throttled.Load()), "429s")
		b.ReportMetric(float64(src.client.Budget.Stats.Pauses.Load()), "budget-pauses")
		s.Close()
	}
}

func openSourceB(b *testing.B, s *sandbox.Running) *Source {
	x, err := open(context.Background(), section(b, "kind: gorgias\nurl: "+s.VendorURL("gorgias")+"\nusername: ops@shop.example\napi_key: k3y\n"), extract.Env{})
	require.NoError(b, err)
	return x.(*Source)
}
