package parquet

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"maps"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/parquet/compress"
	pqfile "github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/thrift/lib/go/thrift"
	pgo "github.com/parquet-go/parquet-go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	pq "github.com/xitongsys/parquet-go/parquet"

	"github.com/msgmigrate/msgmigrate/extract/extracttest"
	"github.com/msgmigrate/msgmigrate/msg"
)

// The file: 20 000 rows in four row groups of 5 000, zstd; body_text
// without a dictionary in pages of about 64 KiB (a dozen a row group), the
// other columns dictionary-encoded. Where its pages are comes from Arrow's
// own offset index; a copy whose footer no longer points to it is the file
// as Arrow writes it by default (without one), with the same pages.

const (
	corruptRows  = 20_000
	corruptGroup = 5_000
)

func corruptOpts(index bool) arrowOpts {
	return arrowOpts{Rows: corruptRows, GroupRows: corruptGroup, Codec: compress.Codecs.Zstd, Dict: true,
		PageSize: 64 << 10, PlainFor: []string{"body_text"}, PageIndex: index}
}

// pageLoc is a data page as Arrow's offset index records it.
type pageLoc struct {
	Off         int64
	Size        int32
	First, Last int // its rows, 1-based in the file
}

type chunkLoc struct {
	Dict  int64 // the dictionary page's offset, or -1
	Pages []pageLoc
}

// fixtures writes the file with an offset index and its twin without, once
// for the package's tests, and returns their paths and the page map
// ([row group][column]).
var fixtures = func() func(t *testing.T) (indexed, plain string, locs [][]chunkLoc) {
	var locs [][]chunkLoc
	return func(t *testing.T) (string, string, [][]chunkLoc) {
		dir := fixtureDir
		if dir != "" {
			return filepath.Join(dir, "indexed.parquet"), filepath.Join(dir, "plain.parquet"), locs
		}
		d, err := os.MkdirTemp("", "parquet-corrupt")
		require.NoError(t, err)
		indexed, plain := filepath.Join(d, "indexed.parquet"), filepath.Join(d, "plain.parquet")
		writeArrow(t, indexed, corruptOpts(true))
		stripIndex(t, indexed, plain)
		r, err := pqfile.OpenParquetFile(indexed, false)
		require.NoError(t, err)
		defer r.Close()
		pir := r.GetPageIndexReader()
		first := 0
		for g := range r.NumRowGroups() {
			rgm := r.MetaData().RowGroup(g)
			rgi, err := pir.RowGroup(g)
			require.NoError(t, err)
			var cols []chunkLoc
			for c := range rgm.NumColumns() {
				cm, err := rgm.ColumnChunk(c)
				require.NoError(t, err)
				cl := chunkLoc{Dict: -1}
				if cm.HasDictionaryPage() {
					cl.Dict = cm.DictionaryPageOffset()
				}
				oi, err := rgi.GetOffsetIndex(c)
				require.NoError(t, err)
				pl := oi.GetPageLocations()
				for k, l := range pl {
					last := first + int(rgm.NumRows())
					if k+1 < len(pl) {
						last = first + int(pl[k+1].FirstRowIndex)
					}
					cl.Pages = append(cl.Pages, pageLoc{Off: l.Offset, Size: l.CompressedPageSize, First: first + int(l.FirstRowIndex) + 1, Last: last})
				}
				cols = append(cols, cl)
			}
			locs = append(locs, cols)
			first += int(rgm.NumRows())
		}
		fixtureDir = d
		return indexed, plain, locs
	}
}()

// stripIndex copies src to dst with a footer that names no page index.
func stripIndex(t *testing.T, src, dst string) {
	data, err := os.ReadFile(src)
	require.NoError(t, err)
	n := int(binary.LittleEndian.Uint32(data[len(data)-8:]))
	start := len(data) - 8 - n
	meta := pq.NewFileMetaData()
	_, err = thriftRead(data[start:len(data)-8], meta)
	require.NoError(t, err)
	for _, rg := range meta.RowGroups {
		for _, cc := range rg.Columns {
			require.NotNil(t, cc.OffsetIndexOffset)
			cc.OffsetIndexOffset, cc.OffsetIndexLength, cc.ColumnIndexOffset, cc.ColumnIndexLength = nil, nil, nil, nil
		}
	}
	ts := thrift.NewTSerializer()
	ts.Protocol = thrift.NewTCompactProtocolConf(ts.Transport, nil)
	footer, err := ts.Write(context.Background(), meta)
	require.NoError(t, err)
	out := append(slices.Clip(data[:start]), footer...)
	out = binary.LittleEndian.AppendUint32(out, uint32(len(footer)))
	out = append(out, magic...)
	require.NoError(t, os.WriteFile(dst, out, 0o644))
}

// fixtureDir holds the files the tests share; TestMain removes it.
var fixtureDir string

func TestMain(m *testing.M) {
	flag.Parse()
	code := m.Run()
	if fixtureDir != "" {
		os.RemoveAll(fixtureDir)
	}
	os.Exit(code)
}

// damage copies src to a new file with 4 KiB of random bytes at off.
func damage(t *testing.T, src string, off int64) string {
	data, err := os.ReadFile(src)
	require.NoError(t, err)
	rng := rand.New(rand.NewPCG(uint64(off), 4096))
	for i := off; i < off+4096; i++ {
		data[i] = byte(rng.Uint32())
	}
	p := filepath.Join(t.TempDir(), "damaged.parquet")
	require.NoError(t, os.WriteFile(p, data, 0o644))
	return p
}

func rowsOf(first, last int) []int {
	var out []int
	for r := first; r <= last; r++ {
		out = append(out, r)
	}
	return out
}

// spans writes row numbers as ranges: "7049–7400, 9001".
func spans(rows []int) string {
	var b []string
	for i := 0; i < len(rows); {
		j := i
		for j+1 < len(rows) && rows[j+1] == rows[j]+1 {
			j++
		}
		if j > i {
			b = append(b, fmt.Sprintf("%d–%d", rows[i], rows[j]))
		} else {
			b = append(b, fmt.Sprint(rows[i]))
		}
		i = j + 1
	}
	return strings.Join(b, ", ")
}

func TestDamagedPageFailsOnlyItsRows(t *testing.T) {
	indexed, plain, locs := fixtures(t)
	body := slices.Index(arrowColumns, "body_text")
	cust := slices.Index(arrowColumns, "customer_uuid")
	bodyPages := func(g int) []pageLoc { return locs[g][body].Pages }
	require.Greater(t, len(bodyPages(1)), 4, "body_text has many pages a row group")
	mid := bodyPages(1)[len(bodyPages(1))/2]
	last1 := bodyPages(0)[len(bodyPages(0))-1]
	first2 := bodyPages(1)[0]
	inPage := func(p pageLoc) int64 {
		require.Greater(t, p.Size, int32(4096+1024), "the page is larger than the damage")
		return p.Off + int64(p.Size) - 4096 - 16 // past its header, inside its values
	}
	for _, tt := range []struct {
		Name   string
		File   string
		Off    int64
		Column string
		Failed []int // rows, 1-based
		Says   string
	}{
		{"PageInTheMiddleOfARowGroup", plain, inPage(mid), "body_text", rowsOf(mid.First, mid.Last), ""},
		{"LastPageOfRowGroup1", plain, inPage(last1), "body_text", rowsOf(last1.First, last1.Last), ""},
		{"FirstPageOfRowGroup2", plain, inPage(first2), "body_text", rowsOf(first2.First, first2.Last), ""},
		// The dictionary page: every page of that column chunk uses it, so
		// the whole row group's rows fail (pages a writer wrote in its
		// fallback encoding, past a full dictionary, would still load).
		{"DictionaryPage", plain, locs[1][cust].Dict + 64, "customer_uuid", rowsOf(corruptGroup+1, 2*corruptGroup), "dictionary page"},
		// A damaged header hides where the next page starts: without an
		// offset index the rest of the row group fails, from that page on.
		{"PageHeaderWithoutOffsetIndex", plain, mid.Off, "body_text", rowsOf(mid.First, 2*corruptGroup), "no offset index"},
		{"PageHeaderWithOffsetIndex", indexed, mid.Off, "body_text", rowsOf(mid.First, mid.Last), ""},
	} {
		t.Run(tt.Name, func(t *testing.T) {
			p := damage(t, tt.File, tt.Off)
			s, err := Open(p, DefaultChunkRows) // 1 024-row chunks cross the row groups' boundaries
			require.NoError(t, err)
			defer s.Close()
			recs, errs := extracttest.ReadAll(t, s)
			var failed []int
			for _, e := range errs {
				failed = append(failed, e.Origin.Line)
				assert.Equal(t, msg.StageRead, e.Stage)
				var pe *PageError
				require.ErrorAs(t, e, &pe)
				assert.Equal(t, tt.Column, pe.Column)
				assert.Contains(t, e.Error(), fmt.Sprintf("%s:%d: column %s: row group ", p, e.Origin.Line, tt.Column))
				assert.Contains(t, e.Error(), tt.Says)
				// The row's other columns are kept for the failures file.
				var re *RowError
				require.ErrorAs(t, e, &re)
				want := arrowWant(e.Origin.Line-1, false)
				delete(want, tt.Column)
				assert.Equal(t, want, re.Fields, "row %d", e.Origin.Line)
			}
			assert.Equal(t, spans(tt.Failed), spans(failed), "exactly the page's rows fail")
			assert.Len(t, recs, corruptRows-len(tt.Failed), "every other row loads")
			for _, r := range recs {
				require.Equal(t, arrowWant(r.Origin.Line-1, false), r.Fields, "row %d", r.Origin.Line)
			}
			t.Logf("%d rows failed, e.g. %v", len(errs), errs[0])
		})
	}
}

// A file whose pages all fail still accounts for every row, and the
// reading goes on past it.
func TestEveryRowAccountedFor(t *testing.T) {
	_, plain, _ := fixtures(t)
	data, err := os.ReadFile(plain)
	require.NoError(t, err)
	for _, at := range []int{1, 3, 5, 7} {
		d := slices.Clone(data)
		off := len(d) * at / 10
		rng := rand.New(rand.NewPCG(uint64(at), 1))
		for i := off; i < off+20_000 && i < len(d)-1024; i++ {
			d[i] = byte(rng.Uint32())
		}
		p := filepath.Join(t.TempDir(), "x.parquet")
		require.NoError(t, os.WriteFile(p, d, 0o644))
		s, err := Open(p, 333)
		require.NoError(t, err)
		recs, errs := extracttest.ReadAll(t, s)
		require.NoError(t, s.Close())
		seen := map[int]bool{}
		for _, r := range recs {
			seen[r.Origin.Line] = true
		}
		for _, e := range errs {
			require.False(t, seen[e.Origin.Line])
			seen[e.Origin.Line] = true
			var pe *PageError
			if errors.As(e, &pe) {
				assert.LessOrEqual(t, pe.FirstRow, int64(e.Origin.Line))
				assert.GreaterOrEqual(t, pe.LastRow, int64(e.Origin.Line))
			}
		}
		assert.Equal(t, spans(rowsOf(1, corruptRows)), spans(slices.Sorted(maps.Keys(seen))))
		t.Logf("damage at %d%%: %d rows failed", at*10, len(errs))
	}
}

// FuzzFile damages a small file anywhere — footer, headers, pages of every
// type and encoding the fixture has (lists, maps, structs, dictionaries) —
// and reads it: no panic, and every row is either read or failed by its
// number, or the whole file fails with one error naming it.
func FuzzFile(f *testing.F) {
	const rows = 60
	path := filepath.Join(f.TempDir(), "good.parquet")
	writeFixture(f, path, rows, pgo.MaxRowsPerRowGroup(25), pgo.PageBufferSize(256))
	good, err := os.ReadFile(path)
	require.NoError(f, err)
	for _, off := range []int{4, len(good) / 3, len(good) / 2, len(good) - 40} {
		f.Add(uint32(off), []byte{0xff, 0x00, 0x13})
	}
	f.Fuzz(func(t *testing.T, off uint32, patch []byte) {
		data := slices.Clone(good)
		copy(data[int(off)%len(data):], patch)
		p := filepath.Join(t.TempDir(), "f.parquet")
		require.NoError(t, os.WriteFile(p, data, 0o644))
		s, err := Open(p, 7)
		if err != nil {
			assert.ErrorContains(t, err, p+": ", "a file refused as a whole is named")
			return
		}
		defer s.Close()
		recs, errs := extracttest.ReadAll(t, s)
		if len(recs) == 0 && len(errs) == 1 && errs[0].Origin.Line == 0 {
			return // the file as a whole
		}
		lines := map[int]bool{}
		for _, r := range recs {
			lines[r.Origin.Line] = true
		}
		for _, e := range errs {
			lines[e.Origin.Line] = true
		}
		// A damaged footer may claim other row counts; each row once, in order.
		require.Len(t, lines, len(recs)+len(errs))
		if bytes.Equal(data[len(data)-1024:], good[len(good)-1024:]) {
			require.Len(t, lines, rows)
		}
	})
}

// An uncompressed page has no codec to notice the damage: the page is
// checked whole before its first row is handed out, so the rows before the
// damaged bytes fail with it instead of loading.
func TestDamagedUncompressedPage(t *testing.T) {
	path := filepath.Join(t.TempDir(), "u.parquet")
	writeArrow(t, path, arrowOpts{Rows: 3000, Codec: compress.Codecs.Uncompressed, Plain: true, PageSize: 64 << 10, PageIndex: true})
	r, err := pqfile.OpenParquetFile(path, false)
	require.NoError(t, err)
	rgi, err := r.GetPageIndexReader().RowGroup(0)
	require.NoError(t, err)
	oi, err := rgi.GetOffsetIndex(slices.Index(arrowColumns, "body_text"))
	require.NoError(t, err)
	locs := oi.GetPageLocations()
	require.NoError(t, r.Close())
	require.Greater(t, len(locs), 2)
	pg, next := locs[1], locs[2]
	p := damage(t, path, pg.Offset+int64(pg.CompressedPageSize)*3/4-2048) // late in the page
	s, err := Open(p, 100)
	require.NoError(t, err)
	defer s.Close()
	recs, errs := extracttest.ReadAll(t, s)
	var failed []int
	for _, e := range errs {
		failed = append(failed, e.Origin.Line)
	}
	assert.Equal(t, spans(rowsOf(int(pg.FirstRowIndex)+1, int(next.FirstRowIndex))), spans(failed))
	for _, r := range recs {
		require.Equal(t, arrowWant(r.Origin.Line-1, false), r.Fields, "row %d", r.Origin.Line)
	}
}
