package gen

import (
	"strconv"
	"time"

	"github.com/xuri/excelize/v2"
)

// WriteXLSX writes the same rows as Write as a one-sheet workbook, with ids
// as numbers and sent_at as a date-formatted cell, through excelize's
// stream writer (flat memory however many rows).
func WriteXLSX(path string, spec Spec) (PerRoute, error) {
	f := excelize.NewFile()
	defer f.Close()
	sw, err := f.NewStreamWriter("Sheet1")
	if err != nil {
		return nil, err
	}
	dateStyle, err := f.NewStyle(&excelize.Style{NumFmt: 22})
	if err != nil {
		return nil, err
	}
	var row []any
	per, err := eachRow(spec, func(i int, rec []string) error {
		if row == nil {
			row = make([]any, len(rec))
		}
		for c, v := range rec {
			switch {
			case i == 0:
				row[c] = v // the header
			case v == "":
				row[c] = nil
			case c == 0:
				id, _ := strconv.ParseInt(v, 10, 64)
				row[c] = id
			case c == 5:
				t, err := time.Parse(time.RFC3339, v)
				if err != nil {
					return err
				}
				// A date cell holds no offset (excelize writes the wall
				// clock): write the instant in UTC, the job's default zone.
				row[c] = excelize.Cell{StyleID: dateStyle, Value: t.UTC()}
			default:
				row[c] = v
			}
		}
		cell, _ := excelize.CoordinatesToCellName(1, i+1)
		return sw.SetRow(cell, row)
	})
	if err != nil {
		return nil, err
	}
	if err := sw.Flush(); err != nil {
		return nil, err
	}
	return per, f.SaveAs(path)
}
