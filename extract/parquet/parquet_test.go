package parquet

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	pgo "github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/deprecated"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/msgmigrate/msgmigrate/extract"
	"github.com/msgmigrate/msgmigrate/extract/extracttest"
)

// The fixtures are written by another implementation (parquet-go/parquet-go),
// as files from Spark, pyarrow or DuckDB would be: dictionary pages, snappy
// and zstd, TIMESTAMP_MICROS and INT96, nulls, several row groups, lists,
// structs, maps, data page v2.

type sender struct {
	Email string  `parquet:"email"`
	Name  *string `parquet:"name,optional"`
}

type message struct {
	ID       int64             `parquet:"id"`
	Body     string            `parquet:"body_text,zstd,dict"`
	Channel  string            `parquet:"Channel Name,snappy,dict"` // a name no Go field could have
	Subject  *string           `parquet:"subject,optional"`
	SentAt   time.Time         `parquet:"sent_at,timestamp(microsecond)"`
	Legacy   deprecated.Int96  `parquet:"legacy_ts"`
	Day      int32             `parquet:"day,date"` // days: parquet-go mis-writes time.Time with "date"
	Amount   int64             `parquet:"amount,decimal(2:18)"`
	Score    float64           `parquet:"score"`
	Ratio    float32           `parquet:"ratio"`
	Read     bool              `parquet:"read"`
	Count32  int32             `parquet:"count32"`
	Tags     []string          `parquet:"tags,list"`
	Sender   *sender           `parquet:"sender,optional"`
	Headers  map[string]string `parquet:"headers"`
	Raw      []byte            `parquet:"raw"`
	Optional *int64            `parquet:"maybe,optional"`
}

func int96(t time.Time) deprecated.Int96 {
	t = t.UTC()
	day := t.Unix()/86400 + 2440588
	nanos := uint64(t.Sub(time.Unix((t.Unix()/86400)*86400, 0)))
	return deprecated.Int96{uint32(nanos), uint32(nanos >> 32), uint32(day)}
}

func ptr[T any](v T) *T { return &v }

var t0 = time.Date(2024, 3, 1, 9, 15, 0, 123456000, time.UTC)

func sample(i int) message {
	m := message{
		ID:      int64(i),
		Body:    []string{"Hi 👍", "  spaced  ", "multi\r\nline", "مرحبا", `a "quote"`}[i%5],
		Channel: []string{"email", "sms"}[i%2],
		SentAt:  t0.Add(time.Duration(i) * time.Minute),
		Legacy:  int96(t0.Add(time.Duration(i) * time.Second)),
		Day:     int32(time.Date(2024, 3, 1+i%28, 0, 0, 0, 0, time.UTC).Unix() / 86400),
		Amount:  41218 + int64(i),
		Score:   float64(i) / 4,
		Ratio:   0.5,
		Read:    i%2 == 0,
		Count32: int32(-i),
		Raw:     []byte{0xff, 0xfe, byte(i)},
	}
	if i%3 != 0 {
		m.Subject = ptr(fmt.Sprintf("subject %d", i))
		m.Tags = []string{"a", fmt.Sprint("t", i)}
		m.Sender = &sender{Email: fmt.Sprintf("u%d@example.com", i)}
		m.Headers = map[string]string{"x-id": fmt.Sprint(i)}
		m.Optional = ptr(int64(i * 10))
	}
	if i%3 == 1 {
		m.Sender.Name = ptr("Dana")
	}
	return m
}

func writeFixture(t testing.TB, path string, rows int, opts ...pgo.WriterOption) {
	t.Helper()
	f, err := os.Create(path)
	require.NoError(t, err)
	w := pgo.NewGenericWriter[message](f, opts...)
	batch := make([]message, 0, 1000)
	for i := range rows {
		batch = append(batch, sample(i))
		if len(batch) == cap(batch) {
			_, err := w.Write(batch)
			require.NoError(t, err)
			batch = batch[:0]
		}
	}
	_, err = w.Write(batch)
	require.NoError(t, err)
	require.NoError(t, w.Close())
	require.NoError(t, f.Close())
}

func want(i int) map[string]any {
	m := sample(i)
	out := map[string]any{
		"id": int64(i), "body_text": m.Body, "Channel Name": m.Channel,
		"sent_at":   m.SentAt,
		"legacy_ts": t0.Add(time.Duration(i) * time.Second),
		"day":       time.Date(2024, 3, 1+i%28, 0, 0, 0, 0, time.UTC),
		"amount":    float64(m.Amount) / 100,
		"score":     m.Score, "ratio": 0.5, "read": m.Read, "count32": int64(-i),
		"raw":     []byte{0xff, 0xfe, byte(i)},
		"tags":    []any{},
		"headers": map[string]any{},
	}
	if m.Subject != nil {
		out["subject"] = *m.Subject
		out["tags"] = []any{"a", fmt.Sprint("t", i)}
		snd := map[string]any{"email": m.Sender.Email}
		if m.Sender.Name != nil {
			snd["name"] = *m.Sender.Name
		}
		out["sender"] = snd
		out["headers"] = map[string]any{"x-id": fmt.Sprint(i)}
		out["maybe"] = int64(i * 10)
	}
	return out
}

func TestReadsOtherWritersFiles(t *testing.T) {
	for _, tt := range []struct {
		Name string
		Opts []pgo.WriterOption
	}{
		{"OneRowGroup", nil},
		{"ManyRowGroups", []pgo.WriterOption{pgo.MaxRowsPerRowGroup(70)}},
		{"DataPageV2", []pgo.WriterOption{pgo.DataPageVersion(2), pgo.PageBufferSize(512)}},
	} {
		t.Run(tt.Name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "m.parquet")
			const n = 500
			writeFixture(t, path, n, tt.Opts...)
			s, err := Open(path, 64)
			require.NoError(t, err)
			defer s.Close()
			recs, errs := extracttest.ReadAll(t, s)
			require.Empty(t, errs)
			require.Len(t, recs, n)
			for i, r := range recs {
				require.Equal(t, want(i), r.Fields, "row %d", i)
				assert.Equal(t, fmt.Sprintf("%s:%d", path, i+1), r.Origin.String())
			}
		})
	}
}

func TestConformance(t *testing.T) {
	dir := t.TempDir()
	writeFixture(t, filepath.Join(dir, "part-0001.parquet"), 3)
	writeFixture(t, filepath.Join(dir, "part-0000.parquet"), 2)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "_SUCCESS"), nil, 0o644))
	extracttest.Run(t, extracttest.Fixture{
		Open: func(t *testing.T) extract.Source {
			s, err := Open(dir, 0)
			require.NoError(t, err)
			return s
		},
		Records: []map[string]any{want(0), want(1), want(0), want(1), want(2)},
	})
	// The columns as written, known before the first row.
	s, err := Open(dir, 0)
	require.NoError(t, err)
	assert.Equal(t, []string{"id", "body_text", "Channel Name", "subject", "sent_at", "legacy_ts", "day", "amount",
		"score", "ratio", "read", "count32", "tags", "sender", "headers", "raw", "maybe"}, s.Columns())
	require.NoError(t, s.Close())
}

func TestBadFiles(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.parquet")
	writeFixture(t, good, 200)
	data, err := os.ReadFile(good)
	require.NoError(t, err)
	cases := map[string][]byte{
		"csv.parquet":       []byte("id,body\n1,hi\n"),
		"empty.parquet":     nil,
		"truncated.parquet": data[:len(data)/2],
	}
	// A file that is not Parquet at all is refused when the source opens
	// (the run exits 1 before sending), naming the file — alone or as one
	// part file of a directory.
	for name, content := range cases {
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, content, 0o644))
		_, err := Open(p, 0)
		require.Error(t, err, name)
		assert.Contains(t, err.Error(), p+": ", name)
		t.Logf("%s: %v", name, err)

		parts := filepath.Join(dir, "parts-"+name)
		require.NoError(t, os.MkdirAll(parts, 0o755))
		require.NoError(t, os.WriteFile(filepath.Join(parts, "a.parquet"), data, 0o644))
		require.NoError(t, os.WriteFile(filepath.Join(parts, "b.parquet"), content, 0o644))
		_, err = Open(parts, 0)
		assert.ErrorContains(t, err, filepath.Join(parts, "b.parquet")+": ", name)
	}
	// A corrupt page in the middle: the file's readable rows still arrive
	// and every other row fails with its row number.
	corrupt := append([]byte(nil), data...)
	for i := len(corrupt) / 3; i < len(corrupt)/3+200; i++ {
		corrupt[i] ^= 0x5a
	}
	p := filepath.Join(dir, "corrupt.parquet")
	require.NoError(t, os.WriteFile(p, corrupt, 0o644))
	s, err := Open(p, 0)
	require.NoError(t, err)
	recs, errs := extracttest.ReadAll(t, s)
	assert.Equal(t, 200, len(recs)+len(errs), "every row is accounted for")
	for _, e := range errs {
		assert.Contains(t, e.Error(), p+":")
	}

	_, err = Open(filepath.Join(dir, "nothing-*.parquet"), 0)
	assert.ErrorContains(t, err, "no file matches")
}

func TestFlatMemoryOnOneBigRowGroup(t *testing.T) {
	if testing.Short() {
		t.Skip("writes 200k rows")
	}
	path := filepath.Join(t.TempDir(), "big.parquet")
	writeFixture(t, path, 200_000, pgo.MaxRowsPerRowGroup(1<<30))
	s, err := Open(path, 0)
	require.NoError(t, err)
	defer s.Close()
	n := 0
	for {
		_, err := s.Next(context.Background())
		if errors.Is(err, io.EOF) {
			break
		}
		require.NoError(t, err)
		n++
	}
	assert.Equal(t, 200_000, n)
}
