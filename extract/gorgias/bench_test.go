package gorgias

import (
	"context"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/msgmigrate/msgmigrate/sandbox"
)

// BenchmarkExtractAtTheAccountBudget pages 6000 messages out of a fake with
// the real bucket (40 requests, leaking 2 a second) using the default
// client budget (40 per 20 s, burst 40): how fast, and how close to the
// budget, without a single 429.
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
			require.NoError(b, err)
			n++
		}
		el := time.Since(t0).Seconds()
		require.Equal(b, 6000, n)
		b.ReportMetric(float64(n)/el, "messages/s")
		b.ReportMetric(float64(src.client.Pacer.Stats.Requests.Load())/el, "requests/s")
		b.ReportMetric(float64(s.Gorgias.Stats.Throttled.Load()), "429s")
		s.Close()
	}
}
