package superoffice

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/msgmigrate/msgmigrate/sandbox"
)

// BenchmarkExtract reads 2000 messages from the fake over loopback at 20 ms
// a request, with and without each message's entity (8 at a time):
//
//	go test ./extract/superoffice -run XXX -bench Extract -benchtime 1x -count 3
func BenchmarkExtract(b *testing.B) {
	const n = 2000
	s := sandbox.Start(sandbox.Config{SuperOffice: sandbox.SuperOfficeConfig{Token: "t", Messages: n, Faults: sandbox.Faults{Latency: 20 * time.Millisecond}}})
	defer s.Close()
	for _, expand := range []string{"none", "entity"} {
		b.Run("expand="+expand, func(b *testing.B) {
			for range b.N {
				src, err := tryOpen("url: " + s.VendorURL("superoffice") + "\ntoken: t\ntimezone: Europe/Oslo\nso_timezone: NO\nexpand: " + expand + "\n")
				require.NoError(b, err)
				t0 := time.Now()
				recs, _, _, err := readAll(b, src)
				require.NoError(b, err)
				require.Len(b, recs, n)
				b.ReportMetric(float64(n)/time.Since(t0).Seconds(), "messages/s")
				src.Close()
			}
		})
	}
}
