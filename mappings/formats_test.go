package mappings_test

import (
	"context"
	"errors"
	"io"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	pgo "github.com/parquet-go/parquet-go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/xuri/excelize/v2"

	"github.com/msgmigrate/msgmigrate/extract"
	"github.com/msgmigrate/msgmigrate/extract/csv"
	"github.com/msgmigrate/msgmigrate/extract/parquet"
	"github.com/msgmigrate/msgmigrate/extract/xlsx"
	"github.com/msgmigrate/msgmigrate/mappings"
	"github.com/msgmigrate/msgmigrate/transform"
)

// The quick start's messages, as a spreadsheet and as a data-lake export
// (written by parquet-go/parquet-go), map to exactly the payloads the CSV
// maps to: every body byte-exact, every time instant-exact.
func TestSameMessagesAnyFormat(t *testing.T) {
	rows := readCSV(t, "../testdata/quickstart/messages.csv")
	dir := t.TempDir()
	xlsxPath := filepath.Join(dir, "messages.xlsx")
	writeXLSX(t, xlsxPath, rows)
	parquetPath := filepath.Join(dir, "messages.parquet")
	writeParquet(t, parquetPath, rows)

	want := mapAll(t, openCSV(t, "../testdata/quickstart/messages.csv"))
	require.Len(t, want, 11)
	xs, err := xlsx.Open(xlsxPath, "messages.xlsx", "", 0)
	require.NoError(t, err)
	assert.Equal(t, want, mapAll(t, xs), "xlsx")
	ps, err := parquet.Open(parquetPath, 0)
	require.NoError(t, err)
	assert.Equal(t, want, mapAll(t, ps), "parquet")
}

func openCSV(t *testing.T, path string) extract.Source {
	s, err := csv.Open(path, filepath.Base(path), "", 0)
	require.NoError(t, err)
	return s
}

func readCSV(t *testing.T, path string) []map[string]any {
	s := openCSV(t, path)
	defer s.Close()
	var out []map[string]any
	for {
		rec, err := s.Next(context.Background())
		if errors.Is(err, io.EOF) {
			return out
		}
		require.NoError(t, err)
		out = append(out, rec.Fields)
	}
}

// mapped is what a sink receives for one record.
type mapped struct {
	Key, Route, Payload string
}

func mapAll(t *testing.T, src extract.Source) []mapped {
	t.Helper()
	defer src.Close()
	data, err := mappings.Read("csv-to-mykaarma")
	require.NoError(t, err)
	m, err := transform.ParseMapping("builtin:csv-to-mykaarma", data, ".")
	require.NoError(t, err)
	prog, err := transform.Compile(m, transform.Options{})
	require.NoError(t, err)
	mp := prog.NewMapper()
	var out []mapped
	for {
		rec, err := src.Next(context.Background())
		if errors.Is(err, io.EOF) {
			return out
		}
		require.NoError(t, err)
		it, err := mp.Map(rec)
		if errors.Is(err, transform.ErrSkipped) {
			continue
		}
		require.NoError(t, err, "%s", rec.Origin)
		out = append(out, mapped{Key: it.Key, Route: it.Route.String(), Payload: string(it.Payload)})
	}
}

func str(row map[string]any, k string) *string {
	if v, ok := row[k].(string); ok {
		return &v
	}
	return nil
}

// writeXLSX types the cells as an operations team's sheet would: ids as
// numbers, sent_at as a date cell, the rest as text.
func writeXLSX(t *testing.T, path string, rows []map[string]any) {
	f := excelize.NewFile()
	defer f.Close()
	style, err := f.NewStyle(&excelize.Style{CustomNumFmt: ptr("yyyy-mm-dd hh:mm:ss")})
	require.NoError(t, err)
	for c, h := range header {
		cell, _ := excelize.CoordinatesToCellName(c+1, 1)
		require.NoError(t, f.SetCellStr("Sheet1", cell, h))
	}
	for r, row := range rows {
		for c, h := range header {
			cell, _ := excelize.CoordinatesToCellName(c+1, r+2)
			v := str(row, h)
			switch {
			case v == nil:
			case h == "id":
				n, err := strconv.ParseInt(*v, 10, 64)
				require.NoError(t, err)
				require.NoError(t, f.SetCellInt("Sheet1", cell, n))
			case h == "sent_at":
				tm, err := time.Parse(time.RFC3339, *v)
				require.NoError(t, err)
				require.NoError(t, f.SetCellValue("Sheet1", cell, tm.UTC()))
				require.NoError(t, f.SetCellStyle("Sheet1", cell, cell, style))
			default:
				require.NoError(t, f.SetCellStr("Sheet1", cell, *v))
			}
		}
	}
	require.NoError(t, f.SaveAs(path))
}

var header = []string{"id", "department_uuid", "customer_uuid", "channel", "direction", "sent_at", "created_at", "subject", "body_text", "body_html", "user_uuid", "attachment_url"}

type lakeRow struct {
	ID            int64      `parquet:"id"`
	Department    string     `parquet:"department_uuid,dict"`
	Customer      string     `parquet:"customer_uuid,dict"`
	Channel       string     `parquet:"channel,dict,zstd"`
	Direction     string     `parquet:"direction,dict"`
	SentAt        *time.Time `parquet:"sent_at,optional,timestamp(microsecond)"`
	CreatedAt     *string    `parquet:"created_at,optional"`
	Subject       *string    `parquet:"subject,optional,snappy"`
	BodyText      *string    `parquet:"body_text,optional,zstd"`
	BodyHTML      *string    `parquet:"body_html,optional"`
	UserUUID      *string    `parquet:"user_uuid,optional"`
	AttachmentURL *string    `parquet:"attachment_url,optional"`
}

func writeParquet(t *testing.T, path string, rows []map[string]any) {
	out := make([]lakeRow, 0, len(rows))
	for _, row := range rows {
		id, err := strconv.ParseInt(*str(row, "id"), 10, 64)
		require.NoError(t, err)
		r := lakeRow{ID: id, Department: *str(row, "department_uuid"), Customer: *str(row, "customer_uuid"),
			Channel: *str(row, "channel"), Direction: *str(row, "direction"), CreatedAt: str(row, "created_at"),
			Subject: str(row, "subject"), BodyText: str(row, "body_text"), BodyHTML: str(row, "body_html"),
			UserUUID: str(row, "user_uuid"), AttachmentURL: str(row, "attachment_url")}
		if s := str(row, "sent_at"); s != nil {
			tm, err := time.Parse(time.RFC3339, *s)
			require.NoError(t, err)
			r.SentAt = &tm
		}
		out = append(out, r)
	}
	require.NoError(t, pgo.WriteFile(path, out, pgo.MaxRowsPerRowGroup(5)))
}

func ptr[T any](v T) *T { return &v }
