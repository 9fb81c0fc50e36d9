package xlsx

import (
	"archive/zip"
	"errors"
	"fmt"
	"io"
	"path"
	"strconv"
	"strings"
)

// The workbook's small parts — relationships, the sheet list, the styles —
// are streamed like the sheets: each keeps only what the source needs
// (a sheet's name and part, which styles show dates), up to a stated bound,
// so a part of any size (a 1 GiB styles.xml) costs no more memory than a
// real one. A part that holds more than the bound is refused with an error
// that says so.

const (
	// maxListed bounds the bytes of names and targets kept from the sheet
	// list and its relationships: a real workbook has kilobytes.
	maxListed = 4 << 20
	// listedEntry is what one listed sheet or relationship costs besides
	// its bytes.
	listedEntry = 64
	// maxStyles bounds the cell formats kept from the styles (4 bytes each):
	// Excel allows about 64 000 in a workbook.
	maxStyles = 1 << 20
	// maxNumFmts bounds the custom number formats kept: Excel allows
	// between 200 and 250.
	maxNumFmts = 1 << 16
)

// PartTooLargeError is a workbook part holding more than the source keeps.
type PartTooLargeError struct {
	Part  string // "xl/styles.xml"
	What  string // "cell formats"
	Limit int
}

func (e *PartTooLargeError) Error() string {
	return fmt.Sprintf("more than %d %s, the most this source reads (a part this large is damaged or not made by a spreadsheet program)", e.Limit, e.What)
}

// DamagedPartError is a part the zip cannot give whole: its data ends early
// or runs past the size the zip's directory states (archive/zip checks
// both), or fails its checksum.
type DamagedPartError struct {
	Part string
	Err  error
}

func (e *DamagedPartError) Error() string {
	return fmt.Sprintf("part %s is damaged (%v): the file was cut short or altered", e.Part, e.Err)
}

func (e *DamagedPartError) Unwrap() error { return e.Err }

// partData reads a part's data, its errors as *DamagedPartError.
type partData struct {
	r    io.Reader
	part string
}

func (p *partData) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	if err != nil && err != io.EOF {
		err = &DamagedPartError{Part: p.part, Err: err}
	}
	return n, err
}

// partReader opens the package's parts by name. It looks them up in the
// zip's directory, with no index of its own: the source opens six parts at
// most, and a package of a million entries would make the index large.
type partReader []*zip.File

// get returns the part named name (without a leading "/"), nil if none; of
// two with one name, the last, as a map built in order would.
func (p partReader) get(name string) *zip.File {
	for i := len(p) - 1; i >= 0; i-- {
		if strings.TrimPrefix(p[i].Name, "/") == name {
			return p[i]
		}
	}
	return nil
}

// scan streams a part's tokens to fn until the part ends or fn returns an
// error; a missing part is an error.
func (p partReader) scan(name string, fn func(sc *scanner, k tokKind) error) error {
	f := p.get(name)
	if f == nil {
		return fmt.Errorf("part %s is missing", name)
	}
	rc, err := f.Open()
	if err != nil {
		return fmt.Errorf("part %s: %w", name, err)
	}
	defer rc.Close()
	sc := newScanner(&partData{r: rc, part: name})
	for {
		k, err := sc.next()
		if err == io.EOF {
			return nil
		}
		if err == nil {
			err = fn(sc, k)
		}
		if err != nil {
			return partErr(name, err)
		}
	}
}

// partErr names the part an error comes from, unless it does already.
func partErr(part string, err error) error {
	var d *DamagedPartError
	if errors.As(err, &d) {
		return err
	}
	return fmt.Errorf("part %s: %w", part, err)
}

type sheetRef struct{ name, part string }

// relations are a relationships part's targets that the source uses:
// id → target for worksheets, and the shared strings' and styles' targets.
type relations struct {
	sheets        map[string]string
	sharedStrings string
	styles        string
	office        string
}

// readRels reads a relationships part; targets are resolved against base.
func (p partReader) readRels(name, base string) (relations, error) {
	rels := relations{sheets: map[string]string{}}
	listed := 0
	err := p.scan(name, func(sc *scanner, k tokKind) error {
		if k != tokStart || !sc.is("Relationship") {
			return nil
		}
		id, _ := sc.attr("Id")
		typ, _ := sc.attr("Type")
		target, _ := sc.attr("Target")
		if sc.over > 0 {
			return &TagTooLongError{Element: "Relationship", Size: sc.tagSize()}
		}
		t := string(target)
		if strings.HasPrefix(t, "/") {
			t = strings.TrimPrefix(t, "/")
		} else {
			t = path.Join(base, t)
		}
		switch kind := string(typ[strings.LastIndexByte(string(typ), '/')+1:]); kind {
		case "worksheet":
			listed += len(id) + len(t) + listedEntry
			if listed > maxListed {
				return &PartTooLargeError{Part: name, What: "bytes of relationships", Limit: maxListed}
			}
			rels.sheets[string(id)] = t
		case "sharedStrings":
			rels.sharedStrings = t
		case "styles":
			rels.styles = t
		case "officeDocument":
			rels.office = t
		}
		return nil
	})
	return rels, err
}

func (p partReader) workbookPath() (string, error) {
	rels, err := p.readRels("_rels/.rels", "")
	if err != nil {
		return "", err
	}
	if rels.office != "" {
		return rels.office, nil
	}
	if p.get("xl/workbook.xml") != nil {
		return "xl/workbook.xml", nil
	}
	return "", errors.New("not an XLSX file: no workbook part")
}

// workbook is what the source reads of the workbook part.
type workbook struct {
	sheets   []sheetRef // worksheets only: chart and dialog sheets hold no rows
	rels     relations
	date1904 bool
}

func (p partReader) readWorkbook(wbPath string) (workbook, error) {
	dir := path.Dir(wbPath)
	rels, err := p.readRels(path.Join(dir, "_rels", path.Base(wbPath)+".rels"), dir)
	if err != nil {
		return workbook{}, err
	}
	wb := workbook{rels: rels}
	listed := 0
	err = p.scan(wbPath, func(sc *scanner, k tokKind) error {
		if k != tokStart {
			return nil
		}
		switch {
		case sc.is("workbookPr"):
			if v, ok := sc.attr("date1904"); ok {
				wb.date1904, _ = strconv.ParseBool(strings.TrimSpace(string(v)))
			}
		case sc.is("sheet"):
			if sc.over > 0 {
				return &TagTooLongError{Element: "sheet", Size: sc.tagSize()}
			}
			name, _ := sc.attr("name")
			id, _ := sc.attr("id") // r:id
			part, ok := rels.sheets[string(id)]
			if !ok {
				return nil
			}
			listed += len(name) + listedEntry
			if listed > maxListed {
				return &PartTooLargeError{Part: wbPath, What: "bytes of sheet names", Limit: maxListed}
			}
			wb.sheets = append(wb.sheets, sheetRef{name: string(name), part: part})
		}
		return nil
	})
	return wb, err
}

// styles says which cell formats (a cell's s attribute) show numbers as
// dates or times.
type styles struct {
	xfNumFmt []uint32     // cell format → number format id
	custom   map[int]bool // custom number format id → shows a date
}

// readStyles reads the number formats and the cell formats of a styles
// part; the rest (fonts, fills, borders, differential formats) is skipped.
func (p partReader) readStyles(name string) (*styles, error) {
	st := &styles{custom: map[int]bool{}}
	// Inside <numFmts>, inside <cellXfs>: differential formats have
	// numFmt elements and cell style formats xf elements of their own.
	inNumFmts, inCellXfs := 0, 0
	err := p.scan(name, func(sc *scanner, k tokKind) error {
		local := string(sc.local(sc.name))
		switch k {
		case tokEnd:
			switch local {
			case "numFmts":
				inNumFmts--
			case "cellXfs":
				inCellXfs--
			}
		case tokStart:
			switch {
			case local == "numFmts":
				inNumFmts++
			case local == "cellXfs":
				inCellXfs++
			case local == "numFmt" && inNumFmts > 0:
				if sc.over > 0 {
					return &TagTooLongError{Element: "numFmt", Size: sc.tagSize()}
				}
				id, _ := sc.attr("numFmtId")
				code, _ := sc.attr("formatCode")
				n, err := strconv.Atoi(string(id))
				if err != nil {
					return nil
				}
				if len(st.custom) == maxNumFmts {
					return &PartTooLargeError{Part: name, What: "number formats", Limit: maxNumFmts}
				}
				st.custom[n] = isDateFormat(string(code))
			case local == "xf" && inCellXfs > 0:
				if len(st.xfNumFmt) == maxStyles {
					return &PartTooLargeError{Part: name, What: "cell formats", Limit: maxStyles}
				}
				id, _ := sc.attr("numFmtId")
				n, _ := strconv.ParseUint(string(id), 10, 32)
				st.xfNumFmt = append(st.xfNumFmt, uint32(n))
			}
		}
		return nil
	})
	return st, err
}

// isDate reports whether cell format i shows a date or a time. A built-in
// number format id means that format even when the styles define a custom
// one with the same id, as excelize reads it.
func (st *styles) isDate(i int) bool {
	if st == nil || i < 0 || i >= len(st.xfNumFmt) {
		return false
	}
	id := int(st.xfNumFmt[i])
	if isBuiltinFmt(id) {
		return builtinDate[id]
	}
	return st.custom[id]
}

// isBuiltinFmt reports whether a number format id is one of ECMA-376's
// built-in formats (§18.8.30), with the ids East Asian locales use.
func isBuiltinFmt(id int) bool {
	return id >= 0 && id <= 4 || id >= 9 && id <= 22 || id >= 37 && id <= 49 ||
		id >= 27 && id <= 36 || id >= 50 && id <= 62 || id >= 67 && id <= 81
}

// TagTooLongError is an element whose tag (its name and attributes) is over
// the bytes the source reads of one: no real workbook has one.
type TagTooLongError struct {
	Element string // "cell F2", "row", "sheet"
	Size    int64
}

func (e *TagTooLongError) Error() string {
	return fmt.Sprintf("the tag of %s is %s, over the %s a tag may have (an attribute too long)", e.Element, byteSize(e.Size), byteSize(tagBudget))
}

// byteSize writes a size for a person: "1.0 GiB", "16 MiB", "512 bytes".
func byteSize(n int64) string {
	switch {
	case n < 1<<10:
		return strconv.FormatInt(n, 10) + " bytes"
	case n%(1<<30) == 0:
		return strconv.FormatInt(n>>30, 10) + " GiB"
	case n%(1<<20) == 0 && n < 1<<30:
		return strconv.FormatInt(n>>20, 10) + " MiB"
	case n%(1<<10) == 0 && n < 1<<20:
		return strconv.FormatInt(n>>10, 10) + " KiB"
	case n < 1<<20:
		return strconv.FormatFloat(float64(n)/(1<<10), 'f', 1, 64) + " KiB"
	case n < 1<<30:
		return strconv.FormatFloat(float64(n)/(1<<20), 'f', 1, 64) + " MiB"
	}
	return strconv.FormatFloat(float64(n)/(1<<30), 'f', 1, 64) + " GiB"
}
