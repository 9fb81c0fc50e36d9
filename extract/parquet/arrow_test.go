package parquet

import (
	"flag"
	"fmt"
	"maps"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	apq "github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/compress"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/msgmigrate/msgmigrate/extract/extracttest"
)

// Files as Apache Arrow writes them (pyarrow, Spark's Arrow path, DuckDB's
// exports through Arrow and arrow-go share its writer's layout): every
// column dictionary-encoded until the dictionary passes 1 MiB, pages cut by
// their encoded size only (a low-cardinality column's dictionary indices
// fill one page with hundreds of thousands of rows), no page checksums.

var (
	arrowOut  = flag.String("arrow-out", "", "TestWriteArrowFixture writes an Arrow-written Parquet file here")
	arrowRows = flag.Int("arrow-rows", 2_000_000, "rows of the -arrow-out file")
)

// arrowOpts is how a fixture is written.
type arrowOpts struct {
	Rows       int
	GroupRows  int64 // rows a row group; 0: one row group
	Codec      compress.Compression
	Dict       bool
	PageSize   int64 // data page size limit; 0: Arrow's 1 MiB
	TypedTimes bool  // sent_at and created_at as TIMESTAMP(µs, UTC), not text
	V2         bool  // data page v2
	PageIndex  bool  // write the offset index
	Plain      bool  // no dictionary, PLAIN values (the fallback every writer has)
	Encoding   apq.Encoding
	PlainFor   []string // columns without a dictionary
	DictLimit  int64    // dictionary page size limit, past which Arrow falls back to PLAIN
}

func arrowSchema(typed bool) *arrow.Schema {
	ts := arrow.DataType(arrow.BinaryTypes.String)
	if typed {
		ts = arrow.FixedWidthTypes.Timestamp_us
	}
	str := arrow.BinaryTypes.String
	return arrow.NewSchema([]arrow.Field{
		{Name: "id", Type: str},
		{Name: "department_uuid", Type: str},
		{Name: "customer_uuid", Type: str},
		{Name: "channel", Type: str},
		{Name: "direction", Type: str},
		{Name: "sent_at", Type: ts, Nullable: true},
		{Name: "created_at", Type: ts, Nullable: true},
		{Name: "subject", Type: str, Nullable: true},
		{Name: "body_text", Type: str, Nullable: true},
		{Name: "body_html", Type: str, Nullable: true},
		{Name: "user_uuid", Type: str, Nullable: true},
		{Name: "attachment_url", Type: str, Nullable: true},
	}, nil)
}

// arrowColumns are the reference job's columns, in order.
var arrowColumns = []string{"id", "department_uuid", "customer_uuid", "channel", "direction", "sent_at", "created_at", "subject", "body_text", "body_html", "user_uuid", "attachment_url"}

var (
	sentences = []string{
		"Hi %s, your vehicle is ready for pickup at %d pm.",
		"Can we move my appointment to Thursday? Order %d.",
		"Grüße aus München — der Termin um %d Uhr passt 👍",
		"ご予約ありがとうございます。明日%d時にお待ちしております。",
		"مرحبا %s، سيارتك جاهزة رقم %d",
		"Invoice #%d: brake pads, rotors; total $%d.18",
		`He said "fine", then left with ticket %d.`,
		"  Thanks %s — see you on the %dth  ",
		"Your loaner (plate %d) is due back tomorrow.",
		"We found a nail in the rear tyre; repair quote %d.",
	}
	names = []string{"Dana", "José", "Zoë", "Łukasz", "Amélie", "Søren", "Ngozi", "Björn"}
)

// arrowRow is row i of every Arrow fixture: the same i, the same row.
func arrowRow(i int) []*string {
	rng := rand.New(rand.NewPCG(uint64(i), 7))
	s := func(v string) *string { return &v }
	route := rng.IntN(1500)
	dept := uuid.NewSHA1(uuid.NameSpaceOID, fmt.Appendf(nil, "dept-%d", route%7)).String()
	cust := uuid.NewSHA1(uuid.NameSpaceOID, fmt.Appendf(nil, "cust-%d", route)).String()
	at := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(i) * 37 * time.Second)
	var body strings.Builder
	for n := 2 + rng.IntN(3); n > 0; n-- {
		t := sentences[rng.IntN(len(sentences))]
		if strings.Contains(t, "%s") {
			fmt.Fprintf(&body, t, names[rng.IntN(len(names))], rng.IntN(100000))
		} else {
			fmt.Fprintf(&body, t, rng.IntN(100000))
		}
		body.WriteString("\n")
	}
	row := []*string{
		s(fmt.Sprint("m-", i+1)), s(dept), s(cust),
		s([]string{"email", "sms", "sms", "phone"}[rng.IntN(4)]),
		s([]string{"inbound", "outbound"}[rng.IntN(2)]),
		s(at.Format(time.RFC3339)), s(at.Add(-2 * time.Second).Format(time.RFC3339)),
		s(fmt.Sprintf("Re: service order %d", 1000+route)),
		s(body.String()), nil,
		s(uuid.NewSHA1(uuid.NameSpaceOID, fmt.Appendf(nil, "user-%d", route%40)).String()), nil,
	}
	if rng.IntN(10) == 0 {
		row[8], row[9] = nil, s("<p>Your <b>quote</b> "+fmt.Sprint(i)+" is attached &amp; valid for 30 days.</p>")
	}
	if rng.IntN(20) == 0 {
		row[11] = s(fmt.Sprintf("https://files.example.com/a/%d.pdf", i))
	}
	if i%97 == 0 {
		row[7] = nil // some subjects are null
	}
	return row
}

// arrowWant is what the source must give for arrowRow(i) (a copy: callers
// may change it).
func arrowWant(i int, typed bool) map[string]any {
	key := [2]int{i, 0}
	if typed {
		key[1] = 1
	}
	wantMu.Lock()
	defer wantMu.Unlock()
	w, ok := wantCache[key]
	if !ok {
		w = makeWant(i, typed)
		wantCache[key] = w
	}
	return maps.Clone(w)
}

var (
	wantMu    sync.Mutex
	wantCache = map[[2]int]map[string]any{}
)

func makeWant(i int, typed bool) map[string]any {
	out := map[string]any{}
	for c, v := range arrowRow(i) {
		if v == nil {
			continue
		}
		out[arrowColumns[c]] = *v
		if typed && (c == 5 || c == 6) {
			t, _ := time.Parse(time.RFC3339, *v)
			out[arrowColumns[c]] = t.UTC()
		}
	}
	return out
}

func writeArrow(tb testing.TB, path string, o arrowOpts) {
	tb.Helper()
	props := []apq.WriterProperty{
		apq.WithDictionaryDefault(o.Dict && !o.Plain),
		apq.WithCompression(o.Codec),
		apq.WithMaxRowGroupLength(1 << 40),
		apq.WithPageIndexEnabled(o.PageIndex),
	}
	if o.GroupRows > 0 {
		props = append(props, apq.WithMaxRowGroupLength(o.GroupRows))
	}
	if o.PageSize > 0 {
		props = append(props, apq.WithDataPageSize(o.PageSize))
	}
	if o.V2 {
		props = append(props, apq.WithDataPageVersion(apq.DataPageV2))
	}
	if o.Plain {
		props = append(props, apq.WithEncoding(apq.Encodings.Plain))
	}
	if o.DictLimit > 0 {
		props = append(props, apq.WithDictionaryPageSizeLimit(o.DictLimit))
	}
	for _, c := range o.PlainFor {
		props = append(props, apq.WithDictionaryFor(c, false))
	}
	if o.Encoding != 0 {
		// Delta encodings apply to the columns of their type: integers
		// (the typed times) for DELTA_BINARY_PACKED, text for the others.
		props = append(props, apq.WithDictionaryDefault(false))
		for c, name := range arrowColumns {
			timeCol := c == 5 || c == 6
			if (o.Encoding == apq.Encodings.DeltaBinaryPacked) == (timeCol && o.TypedTimes) {
				props = append(props, apq.WithEncodingFor(name, o.Encoding))
			}
		}
	}
	f, err := os.Create(path)
	require.NoError(tb, err)
	defer f.Close()
	schema := arrowSchema(o.TypedTimes)
	w, err := pqarrow.NewFileWriter(schema, f, apq.NewWriterProperties(props...), pqarrow.DefaultWriterProps())
	require.NoError(tb, err)
	b := array.NewRecordBuilder(memory.DefaultAllocator, schema)
	defer b.Release()
	flush := func() {
		rec := b.NewRecordBatch()
		defer rec.Release()
		require.NoError(tb, w.WriteBuffered(rec))
	}
	for i := range o.Rows {
		for c, v := range arrowRow(i) {
			switch fb := b.Field(c).(type) {
			case *array.StringBuilder:
				if v == nil {
					fb.AppendNull()
				} else {
					fb.Append(*v)
				}
			case *array.TimestampBuilder:
				if v == nil {
					fb.AppendNull()
				} else {
					t, err := time.Parse(time.RFC3339, *v)
					require.NoError(tb, err)
					fb.Append(arrow.Timestamp(t.UnixMicro()))
				}
			}
		}
		if (i+1)%65536 == 0 {
			flush()
		}
	}
	flush()
	require.NoError(tb, w.Close())
}

// TestWriteArrowFixture writes the file the memory figures are measured on:
// go test ./extract/parquet -run WriteArrowFixture -arrow-out /tmp/arrow.parquet [-arrow-rows N]
func TestWriteArrowFixture(t *testing.T) {
	if *arrowOut == "" {
		t.Skip("writes a fixture only when -arrow-out is given")
	}
	writeArrow(t, *arrowOut, arrowOpts{Rows: *arrowRows, Codec: compress.Codecs.Zstd, Dict: true, TypedTimes: true})
	st, err := os.Stat(*arrowOut)
	require.NoError(t, err)
	t.Logf("%s: %d rows, %d bytes, one row group, dictionary pages, zstd", *arrowOut, *arrowRows, st.Size())
}

func TestReadsArrowFiles(t *testing.T) {
	const n = 3000
	for _, tt := range []struct {
		Name string
		Opts arrowOpts
	}{
		{"DictionaryZstdOneRowGroup", arrowOpts{Codec: compress.Codecs.Zstd, Dict: true, TypedTimes: true}},
		{"DictionarySnappyTextTimes", arrowOpts{Codec: compress.Codecs.Snappy, Dict: true}},
		{"LargePages", arrowOpts{Codec: compress.Codecs.Zstd, Dict: true, PageSize: 16 << 20, TypedTimes: true}},
		{"SmallPagesManyRowGroups", arrowOpts{Codec: compress.Codecs.Snappy, Dict: true, PageSize: 4 << 10, GroupRows: 700}},
		{"DictionaryFallbackToPlain", arrowOpts{Codec: compress.Codecs.Snappy, Dict: true, DictLimit: 8 << 10, PageSize: 16 << 10}},
		{"PlainUncompressed", arrowOpts{Codec: compress.Codecs.Uncompressed, Plain: true, TypedTimes: true}},
		{"DataPageV2Gzip", arrowOpts{Codec: compress.Codecs.Gzip, Dict: true, V2: true, PageSize: 8 << 10, TypedTimes: true}},
		{"DataPageV2Plain", arrowOpts{Codec: compress.Codecs.Zstd, Plain: true, V2: true, PageSize: 8 << 10}},
		{"DeltaByteArrayLZ4", arrowOpts{Codec: compress.Codecs.Lz4Raw, Encoding: apq.Encodings.DeltaByteArray}},
		{"DeltaLengthByteArrayBrotli", arrowOpts{Codec: compress.Codecs.Brotli, Encoding: apq.Encodings.DeltaLengthByteArray}},
		{"DeltaBinaryPackedTimes", arrowOpts{Codec: compress.Codecs.Snappy, Encoding: apq.Encodings.DeltaBinaryPacked, TypedTimes: true, PageSize: 8 << 10}},
		{"OffsetIndex", arrowOpts{Codec: compress.Codecs.Zstd, Dict: true, PageIndex: true, PageSize: 8 << 10, GroupRows: 1000}},
	} {
		t.Run(tt.Name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "a.parquet")
			tt.Opts.Rows = n
			writeArrow(t, path, tt.Opts)
			s, err := Open(path, 100)
			require.NoError(t, err)
			defer s.Close()
			assert.Equal(t, arrowColumns, s.Columns())
			recs, errs := extracttest.ReadAll(t, s)
			require.Empty(t, errs)
			require.Len(t, recs, n)
			for i, r := range recs {
				require.Equal(t, arrowWant(i, tt.Opts.TypedTimes), r.Fields, "row %d", i+1)
				require.Equal(t, i+1, r.Origin.Line)
			}
		})
	}
}
