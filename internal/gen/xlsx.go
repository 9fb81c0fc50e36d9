package gen

import (
	"encoding/csv"
	"io"
	"strconv"
	"time"

	"github.com/xuri/excelize/v2"
)

// WriteXLSX writes the same rows as Write as a one-sheet workbook, with ids
// as numbers and sent_at as a date-formatted cell, through excelize's
// stream writer (flat memory however many rows).
func WriteXLSX(path string, spec Spec) (PerRoute, error) {
	pr, pw := io.Pipe()
	perCh := make(chan PerRoute, 1)
	errCh := make(chan error, 1)
	go func() {
		per, err := Write(pw, spec)
		pw.CloseWithError(err)
		perCh <- per
		errCh <- err
	}()
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
	r := csv.NewReader(pr)
	header, err := r.Read()
	if err != nil {
		return nil, err
	}
	row := make([]any, len(header))
	for i, h := range header {
		row[i] = h
	}
	if err := sw.SetRow("A1", row); err != nil {
		return nil, err
	}
	for n := 2; ; n++ {
		rec, err := r.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		for i, v := range rec {
			switch {
			case v == "":
				row[i] = nil
			case i == 0:
				id, _ := strconv.ParseInt(v, 10, 64)
				row[i] = id
			case i == 5:
				t, err := time.Parse(time.RFC3339, v)
				if err != nil {
					return nil, err
				}
				row[i] = excelize.Cell{StyleID: dateStyle, Value: t}
			default:
				row[i] = v
			}
		}
		cell, _ := excelize.CoordinatesToCellName(1, n)
		if err := sw.SetRow(cell, row); err != nil {
			return nil, err
		}
	}
	if err := sw.Flush(); err != nil {
		return nil, err
	}
	if err := f.SaveAs(path); err != nil {
		return nil, err
	}
	if err := <-errCh; err != nil {
		return nil, err
	}
	return <-perCh, nil
}
