package transform

import (
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/msgmigrate/msgmigrate/msg"
)

// BenchmarkMapCSV maps one quick-start row through csv-to-mykaarma, as a run
// does for every record.
func BenchmarkMapCSV(b *testing.B) {
	data, err := os.ReadFile("../mappings/csv-to-mykaarma.yaml")
	require.NoError(b, err)
	m, err := ParseMapping("csv-to-mykaarma", data, ".")
	require.NoError(b, err)
	p, err := Compile(m, Options{})
	require.NoError(b, err)
	mp := p.NewMapper()
	rec := &msg.Record{Fields: map[string]any{"id": "1", "department_uuid": "3f2b8c1e-6d4a-4f0e-9b7a-1c2d3e4f5a6b",
		"customer_uuid": "0b1c2d3e-4f50-4617-8a9b-0c1d2e3f4a5b", "channel": "sms", "direction": "outbound",
		"sent_at": "2024-03-01T09:15:00Z", "created_at": "2024-03-01 09:14:58", "body_text": "Hi Dana, your car is ready."}}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := mp.Map(rec); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkTime(b *testing.B) {
	berlin, err := time.LoadLocation("Europe/Berlin")
	require.NoError(b, err)
	for _, bc := range []struct{ name, value, layout string }{
		{"time(v)", "2024-03-01 10:15:00", ""},
		{"GoLayout", "01/03/2024 10:15", "02/01/2006 15:04"},
		{"strftime", "01/03/2024 10:15", "%d/%m/%Y %H:%M"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				var err error
				if bc.layout == "" {
					_, err = ParseTime(bc.value, berlin)
				} else {
					_, err = ParseTimeLayout(bc.value, bc.layout, berlin)
				}
				if err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
