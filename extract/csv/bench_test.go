package csv

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
	xencoding "golang.org/x/text/encoding"
	"golang.org/x/text/encoding/charmap"
	"golang.org/x/text/encoding/unicode"

	"github.com/msgmigrate/msgmigrate/internal/gen"
)

// BenchmarkRead reads the bench command's 200k rows, in-process, as UTF-8
// and as Excel's Windows-1252 and UTF-16LE exports of them:
//
//	go test ./extract/csv -run XXX -bench Read -benchtime 5x
func BenchmarkRead(b *testing.B) {
	const rows = 200_000
	var text bytes.Buffer
	_, err := gen.Write(&text, gen.Spec{Rows: rows, Routes: 1500, Seed: 42})
	require.NoError(b, err)
	dir := b.TempDir()
	for _, tt := range []struct {
		name, encoding string
		enc            xencoding.Encoding
	}{
		{"utf-8", "", nil},
		{"windows-1252", "windows-1252", charmap.Windows1252},
		{"utf-16le", "auto", unicode.UTF16(unicode.LittleEndian, unicode.UseBOM)},
	} {
		data := text.Bytes()
		if tt.enc != nil {
			// Characters the code page lacks become "?"; the rows stay.
			data, err = xencoding.ReplaceUnsupported(tt.enc.NewEncoder()).Bytes(data)
			require.NoError(b, err)
		}
		path := filepath.Join(dir, tt.name+".csv")
		require.NoError(b, os.WriteFile(path, data, 0o644))
		b.Run(tt.name, func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			cpu0 := cpuTime()
			for range b.N {
				s, err := OpenWith(path, "m.csv", Options{Encoding: tt.encoding})
				require.NoError(b, err)
				n := 0
				for {
					_, err := s.Next(context.Background())
					if errors.Is(err, io.EOF) {
						break
					}
					require.NoError(b, err)
					n++
				}
				s.Close()
				require.Equal(b, rows, n)
			}
			b.ReportMetric(float64(rows*b.N)/b.Elapsed().Seconds(), "rows/s")
			// CPU time as well: on a shared machine the wall clock measures
			// the neighbours too.
			b.ReportMetric(float64(cpuTime()-cpu0)/1e6/float64(b.N), "cpu-ms/op")
		})
	}
}
