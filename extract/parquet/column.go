package parquet

import (
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	pq "github.com/xitongsys/parquet-go/parquet"
)

// PageError is a page of a column chunk that cannot be read. Each row it
// holds fails with it, by number; the pages around it are read as usual.
type PageError struct {
	Column   string // the column's dotted path, as written
	RowGroup int    // 1-based
	Page     int    // 1-based position in the column chunk, the dictionary page included; 0: the whole chunk
	Offset   int64  // where its header starts in the file
	// The rows lost with it, 1-based row numbers of the file.
	FirstRow, LastRow int64
	Err               error
}

func (e *PageError) Error() string {
	if e.Page == 0 { // the column chunk as a whole
		return fmt.Sprintf("column %s: row group %d (rows %d–%d) cannot be read: %v",
			e.Column, e.RowGroup, e.FirstRow, e.LastRow, e.Err)
	}
	return fmt.Sprintf("column %s: row group %d, page %d at byte %d (rows %d–%d) cannot be read: %v",
		e.Column, e.RowGroup, e.Page, e.Offset, e.FirstRow, e.LastRow, e.Err)
}

func (e *PageError) Unwrap() error { return e.Err }

// colChunk is one column's share of a chunk of rows.
type colChunk struct {
	vals   []any
	dls    []int32
	starts []int        // each row's first entry, plus the end
	bad    []*PageError // per row: why its entries are missing, or nil
}

// column reads one leaf column through the row groups, page by page. Each
// page is located by its header (or, past a damaged header, by the offset
// index), checked whole, then decoded as its rows are asked for.
type column struct {
	f              *file
	leaf           *node
	i              int // the leaf's index: its chunk's position in each row group
	t              colType
	maxRep, maxDef int32

	rg              int   // current row group, -1 before the first
	rgFirst, rgRows int64 // its first row (0-based, in the file) and row count
	row             int64 // rows of the row group handed out, read or failed
	meta            *pq.ColumnMetaData
	cc              *pq.ColumnChunk
	start, pos, end int64 // the chunk's first page, the next page header, the chunk's end
	pageNo          int
	dict            []any
	dictErr         error
	locs            []*pq.PageLocation
	locsRead        bool

	pg               *dataPage
	fail             *PageError // rows [failFrom, failTo) of the row group fail with it
	failFrom, failTo int64

	hbuf, cbuf, ubuf []byte
}

// dataPage is the data page being read.
type dataPage struct {
	rl, dl   *levels
	vals     valueDecoder
	maxDef   int32
	left     int   // entries not yet taken
	first    int64 // its first row in the row group
	rows     int64
	no       int
	off      int64
	has      bool // an entry was peeked
	prl, pdl int32
	pv       any
}

func (p *dataPage) take() (rl, dl int32, v any, err error) {
	if p.has {
		p.has = false
		return p.prl, p.pdl, p.pv, nil
	}
	if p.left <= 0 {
		return 0, 0, nil, errShort
	}
	p.left--
	if rl, err = p.rl.next(); err != nil {
		return 0, 0, nil, err
	}
	if dl, err = p.dl.next(); err != nil {
		return 0, 0, nil, err
	}
	if dl == p.maxDef {
		v, err = p.vals.next()
	}
	return rl, dl, v, err
}

// peek returns the next entry's repetition level; ok is false at the end of
// the page.
func (p *dataPage) peek() (rl int32, ok bool, err error) {
	if !p.has {
		if p.left <= 0 {
			return 0, false, nil
		}
		if p.prl, p.pdl, p.pv, err = p.take(); err != nil {
			return 0, false, err
		}
		p.has = true
	}
	return p.prl, true, nil
}

func (p *dataPage) done() bool { return !p.has && p.left <= 0 }

// read reads the next n rows into out. The caller never asks past the
// file's last row.
func (c *column) read(n int, out *colChunk) {
	out.vals, out.dls, out.starts, out.bad = out.vals[:0], out.dls[:0], out.starts[:0], out.bad[:0]
	for range n {
		for c.row >= c.rgRows {
			c.nextRowGroup()
		}
		out.starts = append(out.starts, len(out.vals))
		out.bad = append(out.bad, c.readRow(out))
		c.row++
	}
	out.starts = append(out.starts, len(out.vals))
}

// readRow appends row c.row's entries to out, or returns why it cannot.
func (c *column) readRow(out *colChunk) *PageError {
	if c.fail != nil {
		if c.row >= c.failFrom && c.row < c.failTo {
			return c.fail
		}
		if c.row >= c.failTo {
			c.fail = nil
		}
	}
	if c.pg == nil || c.pg.done() {
		if e := c.openPage(c.row); e != nil {
			return e
		}
	}
	_, dl, v, err := c.pg.take()
	if err != nil {
		return c.streamFailed(err)
	}
	out.vals, out.dls = append(out.vals, v), append(out.dls, dl)
	if c.maxRep == 0 {
		return nil
	}
	// A repeated column's row goes on while entries repeat (level > 0),
	// possibly into the next page.
	for {
		if c.pg.done() {
			if c.pos >= c.end || c.openPage(c.row+1) != nil {
				return nil
			}
		}
		rl, ok, err := c.pg.peek()
		if err != nil {
			return c.streamFailed(err)
		}
		if !ok || rl == 0 {
			return nil
		}
		_, dl, v, _ := c.pg.take()
		out.vals, out.dls = append(out.vals, v), append(out.dls, dl)
	}
}

// streamFailed handles an error in a page that was checked whole: it cannot
// happen unless the file changes under us; the rest of the page fails.
func (c *column) streamFailed(err error) *PageError {
	p := c.pg
	c.pg = nil
	return c.failRange(c.row, max(p.first+p.rows, c.row+1), p.no, p.off, err)
}

// failRange makes rows [from, to) of the row group fail with err and
// returns the failure.
func (c *column) failRange(from, to int64, page int, off int64, err error) *PageError {
	to = min(max(to, from+1), c.rgRows)
	err = noEOF(err)
	e := &PageError{
		Column: c.leaf.path, RowGroup: c.rg + 1, Page: page, Offset: off,
		FirstRow: c.rgFirst + from + 1, LastRow: c.rgFirst + to, Err: err,
	}
	c.fail, c.failFrom, c.failTo = e, from, to
	return e
}

// noEOF keeps io.EOF out of a record's failure: a caller that tests
// errors.Is(err, io.EOF) before *msg.Error would take the failure of one
// row for the end of the source, and silently drop the rest.
func noEOF(err error) error {
	if errors.Is(err, io.EOF) {
		return errors.New(err.Error())
	}
	return err
}

// nextRowGroup moves to the next row group's chunk of this column.
func (c *column) nextRowGroup() {
	if c.rg >= 0 {
		c.rgFirst += c.rgRows
	}
	c.rg++
	rg := c.f.meta.RowGroups[c.rg]
	c.rgRows, c.row = rg.NumRows, 0
	c.pg, c.fail, c.dict, c.dictErr, c.locs, c.locsRead, c.pageNo = nil, nil, nil, nil, nil, false, 0
	c.cc, c.meta, c.pos, c.end = nil, nil, 0, 0
	if err := c.openChunk(rg); err != nil {
		c.failRange(0, c.rgRows, 0, 0, err)
	}
}

func (c *column) openChunk(rg *pq.RowGroup) error {
	if c.i >= len(rg.Columns) || rg.Columns[c.i] == nil || rg.Columns[c.i].MetaData == nil {
		return errors.New("the row group has no column chunk for it")
	}
	cc := rg.Columns[c.i]
	m := cc.MetaData
	if got := strings.Join(m.PathInSchema, "."); got != c.leaf.path {
		return fmt.Errorf("the row group's column chunk %d is %q", c.i+1, got)
	}
	if cc.FilePath != nil {
		return fmt.Errorf("its column chunk is in another file (%s), which is not supported", *cc.FilePath)
	}
	start := m.DataPageOffset
	// Some writers set a dictionary offset of 0 when there is no dictionary.
	if d := m.DictionaryPageOffset; d != nil && *d > 0 && *d < start {
		start = *d
	}
	end := start + m.TotalCompressedSize
	if start < int64(len(magic)) || m.TotalCompressedSize < 0 || end > c.f.dataEnd {
		return fmt.Errorf("its column chunk (bytes %d to %d) lies outside the file's data", start, end)
	}
	c.cc, c.meta, c.start, c.pos, c.end = cc, m, start, start, end
	return nil
}

// openPage reads pages from c.pos until a data page with entries, whose
// first row is first. A page that cannot be read fails its rows (and
// openPage returns that failure); the dictionary page is kept for the data
// pages that follow.
func (c *column) openPage(first int64) *PageError {
	c.pg = nil
	if c.meta == nil {
		return c.failRange(first, c.rgRows, 0, 0, errors.New("the column chunk cannot be read"))
	}
	for {
		if c.pos >= c.end {
			return c.failRange(first, c.rgRows, c.pageNo+1, c.pos,
				fmt.Errorf("the column chunk ends after %d of the row group's %d rows", first, c.rgRows))
		}
		off := c.pos
		c.pageNo++
		var (
			h    *pq.PageHeader
			hlen int
			err  error
		)
		h, hlen, c.hbuf, err = readHeader(c.f.r, off, c.end, c.hbuf)
		if err == nil {
			err = checkHeader(h, hlen, off, c.end, c.meta.NumValues)
		}
		if err != nil {
			if e := c.lost(first, off, err); e != nil {
				return e
			}
			continue
		}
		payload := off + int64(hlen)
		c.pos = payload + int64(h.CompressedPageSize)
		switch h.Type {
		case pq.PageType_INDEX_PAGE:
			continue
		case pq.PageType_DICTIONARY_PAGE:
			c.readDict(h, payload, off)
			continue
		}
		p, rows, err := c.loadData(h, payload)
		if err == nil && first+rows > c.rgRows {
			err = fmt.Errorf("the page holds %d rows, past the row group's %d", rows, c.rgRows)
		}
		if err != nil {
			if rows < 0 {
				rows = c.rowsAt(off, first)
			}
			return c.failRange(first, first+rows, c.pageNo, off, err)
		}
		if p.left == 0 {
			continue
		}
		p.first, p.rows, p.no, p.off = first, rows, c.pageNo, off
		c.pg = p
		return nil
	}
}

// lost handles a page header that cannot be read at off. With an offset
// index the next page is known and only this page's rows fail (nil is
// returned when none do: the dictionary page's header); without one, no
// page after it can be found and the rest of the row group fails.
func (c *column) lost(first, off int64, err error) *PageError {
	locs := c.offsetIndex()
	k := slices.IndexFunc(locs, func(l *pq.PageLocation) bool { return l.Offset > off })
	if locs == nil || k < 0 {
		c.pos = c.end
		if locs == nil {
			err = fmt.Errorf("%w; the pages after it cannot be located (the file has no offset index)", err)
		}
		return c.failRange(first, c.rgRows, c.pageNo, off, err)
	}
	if off < locs[0].Offset {
		// Before the first data page: the dictionary page's header.
		c.dict, c.dictErr = nil, fmt.Errorf("the column chunk's dictionary page (at byte %d) cannot be read: %w", off, err)
	}
	c.pos = locs[k].Offset
	if first >= locs[k].FirstRowIndex {
		return nil
	}
	return c.failRange(first, locs[k].FirstRowIndex, c.pageNo, off, err)
}

// rowsAt is the number of rows of the page at off, from the offset index,
// or all the rest of the row group when it is not known (a v1 page of a
// repeated column whose levels cannot be read).
func (c *column) rowsAt(off, first int64) int64 {
	locs := c.offsetIndex()
	for k, l := range locs {
		if l.Offset == off {
			if k+1 < len(locs) {
				return locs[k+1].FirstRowIndex - l.FirstRowIndex
			}
			break
		}
	}
	c.pos = c.end
	return c.rgRows - first
}

// offsetIndex reads the chunk's offset index, when the writer wrote one
// and it is sound; nil otherwise.
func (c *column) offsetIndex() []*pq.PageLocation {
	if c.locsRead {
		return c.locs
	}
	c.locsRead = true
	cc := c.cc
	if cc == nil || cc.OffsetIndexOffset == nil || cc.OffsetIndexLength == nil {
		return nil
	}
	off, n := *cc.OffsetIndexOffset, int64(*cc.OffsetIndexLength)
	if off < 0 || n <= 0 || n > maxHeaderBytes || off+n > c.f.size {
		return nil
	}
	buf := make([]byte, n)
	if _, err := c.f.r.ReadAt(buf, off); err != nil {
		return nil
	}
	oi := pq.NewOffsetIndex()
	if _, err := thriftRead(buf, oi); err != nil || len(oi.PageLocations) == 0 {
		return nil
	}
	prev := &pq.PageLocation{Offset: c.start - 1, FirstRowIndex: 0}
	for _, l := range oi.PageLocations {
		if l == nil || l.Offset <= prev.Offset || l.Offset >= c.end || l.FirstRowIndex < prev.FirstRowIndex || l.FirstRowIndex >= max(c.rgRows, 1) {
			return nil
		}
		prev = l
	}
	if oi.PageLocations[0].FirstRowIndex != 0 {
		return nil
	}
	c.locs = oi.PageLocations
	return c.locs
}

// inflate decompresses a page's bytes into the column's buffer, which it
// keeps for the next page.
func (c *column) inflate(raw []byte, size int) ([]byte, error) {
	out, err := decompress(c.meta.Codec, c.ubuf, raw, size)
	if err == nil && c.meta.Codec != pq.CompressionCodec_UNCOMPRESSED {
		c.ubuf = out
	}
	return out, err
}

// payload reads a page's bytes after its header and checks its checksum.
func (c *column) payload(h *pq.PageHeader, off int64) ([]byte, error) {
	c.cbuf = grow(c.cbuf, int(h.CompressedPageSize))
	if _, err := c.f.r.ReadAt(c.cbuf, off); err != nil {
		return nil, err
	}
	return c.cbuf, checkCRC(h, c.cbuf)
}

// readDict reads a dictionary page; when it cannot be read, the data pages
// that use it fail (each with its rows), and pages written in another
// encoding (a writer's fallback once the dictionary is full) are still read.
func (c *column) readDict(h *pq.PageHeader, payload, off int64) {
	c.dict, c.dictErr = nil, nil
	dict, err := func() ([]any, error) {
		raw, err := c.payload(h, payload)
		if err != nil {
			return nil, err
		}
		data, err := c.inflate(raw, int(h.UncompressedPageSize))
		if err != nil {
			return nil, err
		}
		n := int(h.DictionaryPageHeader.NumValues)
		if n > len(data) {
			return nil, fmt.Errorf("%d values in %d bytes", n, len(data))
		}
		d := &plainDecoder{t: c.t, data: data}
		if c.t.typ == pq.Type_BYTE_ARRAY || c.t.typ == pq.Type_FIXED_LEN_BYTE_ARRAY || c.t.typ == pq.Type_INT96 {
			d.str = string(data) // its values share one copy
		}
		dict := make([]any, n)
		for i := range dict {
			if dict[i], err = d.next(); err != nil {
				return nil, err
			}
		}
		return dict, nil
	}()
	if err != nil {
		c.dictErr = fmt.Errorf("the column chunk's dictionary page (page %d at byte %d) cannot be read: %w", c.pageNo, off, err)
		return
	}
	c.dict = dict
}

// loadData reads a data page at payload and checks all of it — every level
// and every value — before any of its rows is handed out, so a damaged page
// fails all its rows and only those. rows is the page's row count, or -1
// when the damage hides it.
func (c *column) loadData(h *pq.PageHeader, payload int64) (p *dataPage, rows int64, err error) {
	var (
		nvals          int
		enc            pq.Encoding
		rlData, dlData []byte
		vals           []byte
	)
	rows = -1
	if v2 := h.DataPageHeaderV2; h.Type == pq.PageType_DATA_PAGE_V2 {
		nvals, enc, rows = int(v2.NumValues), v2.Encoding, int64(v2.NumRows)
	} else {
		nvals, enc = int(h.DataPageHeader.NumValues), h.DataPageHeader.Encoding
		if c.maxRep == 0 {
			rows = int64(nvals)
		}
	}
	raw, err := c.payload(h, payload)
	if err != nil {
		return nil, rows, err
	}
	if v2 := h.DataPageHeaderV2; v2 != nil && h.Type == pq.PageType_DATA_PAGE_V2 {
		rll, dll := int(v2.RepetitionLevelsByteLength), int(v2.DefinitionLevelsByteLength)
		rlData, dlData, vals = raw[:rll], raw[rll:rll+dll], raw[rll+dll:]
		size := int(h.UncompressedPageSize) - rll - dll
		if v2.IsCompressed {
			vals, err = c.inflate(vals, size)
		} else if len(vals) != size {
			err = fmt.Errorf("uncompressed values of %d bytes, header says %d", len(vals), size)
		}
		if err != nil {
			return nil, rows, err
		}
	} else {
		data, err := c.inflate(raw, int(h.UncompressedPageSize))
		if err != nil {
			return nil, rows, err
		}
		for _, l := range []struct {
			max int32
			enc pq.Encoding
			out *[]byte
		}{{c.maxRep, h.DataPageHeader.RepetitionLevelEncoding, &rlData}, {c.maxDef, h.DataPageHeader.DefinitionLevelEncoding, &dlData}} {
			if l.max == 0 {
				continue
			}
			if l.enc != pq.Encoding_RLE {
				return nil, rows, fmt.Errorf("levels in encoding %v, which is not supported", l.enc)
			}
			if *l.out, data, err = lengthPrefixed(data); err != nil {
				return nil, rows, fmt.Errorf("levels: %w", err)
			}
		}
		vals = data
	}

	// The whole page, checked: levels first, which give the row count.
	rl, err := newLevels(rlData, c.maxRep)
	if err != nil {
		return nil, rows, err
	}
	dl, err := newLevels(dlData, c.maxDef)
	if err != nil {
		return nil, rows, err
	}
	var n, nonNull int64
	for i := range nvals {
		r, err := rl.next()
		if err != nil {
			return nil, rows, fmt.Errorf("repetition levels: %w", err)
		}
		d, err := dl.next()
		if err != nil {
			return nil, rows, fmt.Errorf("definition levels: %w", err)
		}
		if r == 0 {
			n++
		} else if i == 0 && h.Type == pq.PageType_DATA_PAGE_V2 {
			return nil, rows, errors.New("a v2 page starts inside a row")
		}
		if d == c.maxDef {
			nonNull++
		}
	}
	if rows >= 0 && n != rows {
		return nil, rows, fmt.Errorf("levels give %d rows, header says %d", n, rows)
	}
	rows = n
	if v2 := h.DataPageHeaderV2; h.Type == pq.PageType_DATA_PAGE_V2 && int64(nvals)-nonNull != int64(v2.NumNulls) {
		return nil, rows, fmt.Errorf("levels give %d nulls, header says %d", int64(nvals)-nonNull, v2.NumNulls)
	}
	vd, err := newValueDecoder(enc, c.t, vals, int(nonNull), c.dict, c.dictErr)
	if err == nil {
		err = vd.skip(int(nonNull))
	}
	if err != nil {
		return nil, rows, err
	}

	// Checked: decode it again, a row at a time, as it is asked for.
	p = &dataPage{maxDef: c.maxDef, left: nvals}
	p.rl, _ = newLevels(rlData, c.maxRep)
	p.dl, _ = newLevels(dlData, c.maxDef)
	p.vals, _ = newValueDecoder(enc, c.t, vals, int(nonNull), c.dict, c.dictErr)
	return p, rows, nil
}
