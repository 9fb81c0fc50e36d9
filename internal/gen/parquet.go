package gen

import (
	"fmt"
	"strconv"
	"time"

	"github.com/xitongsys/parquet-go-source/local"
	"github.com/xitongsys/parquet-go/parquet"
	"github.com/xitongsys/parquet-go/writer"
)

// parquetRow has the CSV's columns, typed as a data lake would type them;
// a column a row may leave empty is OPTIONAL (null, as the CSV's empty cell
// is absent).
type parquetRow struct {
	ID            int64   `parquet:"name=id, type=INT64"`
	Department    string  `parquet:"name=department_uuid, type=BYTE_ARRAY, convertedtype=UTF8, encoding=PLAIN_DICTIONARY"`
	Customer      string  `parquet:"name=customer_uuid, type=BYTE_ARRAY, convertedtype=UTF8, encoding=PLAIN_DICTIONARY"`
	Channel       string  `parquet:"name=channel, type=BYTE_ARRAY, convertedtype=UTF8, encoding=PLAIN_DICTIONARY"`
	Direction     string  `parquet:"name=direction, type=BYTE_ARRAY, convertedtype=UTF8, encoding=PLAIN_DICTIONARY"`
	SentAt        int64   `parquet:"name=sent_at, type=INT64, convertedtype=TIMESTAMP_MICROS"`
	CreatedAt     string  `parquet:"name=created_at, type=BYTE_ARRAY, convertedtype=UTF8"`
	Subject       *string `parquet:"name=subject, type=BYTE_ARRAY, convertedtype=UTF8, repetitiontype=OPTIONAL"`
	BodyText      *string `parquet:"name=body_text, type=BYTE_ARRAY, convertedtype=UTF8, repetitiontype=OPTIONAL"`
	BodyHTML      *string `parquet:"name=body_html, type=BYTE_ARRAY, convertedtype=UTF8, repetitiontype=OPTIONAL"`
	UserUUID      *string `parquet:"name=user_uuid, type=BYTE_ARRAY, convertedtype=UTF8, encoding=PLAIN_DICTIONARY, repetitiontype=OPTIONAL"`
	AttachmentURL *string `parquet:"name=attachment_url, type=BYTE_ARRAY, convertedtype=UTF8, repetitiontype=OPTIONAL"`
}

// WriteParquet writes the same rows as Write, as one Parquet file of a single
// row group (as Spark and pyarrow write them), snappy-compressed.
func WriteParquet(path string, spec Spec) (PerRoute, error) {
	fw, err := local.NewLocalFileWriter(path)
	if err != nil {
		return nil, err
	}
	defer fw.Close()
	w, err := writer.NewParquetWriter(fw, new(parquetRow), 2)
	if err != nil {
		return nil, err
	}
	w.RowGroupSize = 1 << 40 // one row group, however large
	w.PageSize = 1 << 20
	w.CompressionType = parquet.CompressionCodec_SNAPPY
	opt := func(s string) *string {
		if s == "" {
			return nil
		}
		return &s
	}
	per, err := eachRow(spec, func(i int, f []string) error {
		if i == 0 {
			return nil // the header: the struct tags name the columns
		}
		id, _ := strconv.ParseInt(f[0], 10, 64)
		sent, err := time.Parse(time.RFC3339, f[5])
		if err != nil {
			return fmt.Errorf("row %d: %w", id, err)
		}
		return w.Write(parquetRow{ID: id, Department: f[1], Customer: f[2], Channel: f[3], Direction: f[4],
			SentAt: sent.UnixMicro(), CreatedAt: f[6], Subject: opt(f[7]), BodyText: opt(f[8]), BodyHTML: opt(f[9]),
			UserUUID: opt(f[10]), AttachmentURL: opt(f[11])})
	})
	if err != nil {
		return nil, err
	}
	if err := w.WriteStop(); err != nil {
		return nil, err
	}
	return per, fw.Close()
}
