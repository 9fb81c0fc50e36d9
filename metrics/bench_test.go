package metrics

import (
	"path/filepath"
	"testing"
	"time"
)

// BenchmarkInstrumentation is the cost a loader pays per call, from every
// core at once: go test ./metrics -run XXX -bench Instrumentation -cpu 1,2
func BenchmarkInstrumentation(b *testing.B) {
	r, err := New(Config{File: filepath.Join(b.TempDir(), "b.prom")}, Labels{Job: "bench"}, nil)
	if err != nil {
		b.Fatal(err)
	}
	var nilRun *Run
	for _, bb := range []struct {
		name string
		call func()
	}{
		{"Records", func() { r.Records(OutcomeLoaded, "", 1) }},
		{"RecordsVendorCode", func() { r.Records(OutcomeFailed, "INVALID_DATE", 1) }},
		{"Request", func() { r.Request(200, 20*time.Millisecond) }},
		{"InFlight", func() { r.InFlight(1) }},
		{"Batch", func() { r.Batch(100, 250_000) }},
		{"NilRun", func() { nilRun.Records(OutcomeLoaded, "", 1) }},
	} {
		b.Run(bb.name, func(b *testing.B) {
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					bb.call()
				}
			})
		})
	}
}
