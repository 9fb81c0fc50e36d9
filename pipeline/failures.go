package pipeline

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"github.com/msgmigrate/msgmigrate/msg"
)

// failureWriter writes the failures file: one JSON object per failed record.
type failureWriter struct {
	path string
	f    *os.File
	w    *bufio.Writer
	n    int
}

// FailureLine is one line of the failures file.
type FailureLine struct {
	Origin string          `json:"origin"`
	Stage  string          `json:"stage"`
	Key    string          `json:"key,omitempty"`
	Code   string          `json:"code,omitempty"`
	Error  string          `json:"error"`
	Record json.RawMessage `json:"record,omitempty"`
	// Raw is the record's text, when it could not be read.
	Raw string `json:"raw,omitempty"`
	// Earlier: the record failed in an earlier run and was not read
	// correctly since (written by retry, which does not read the source).
	Earlier bool `json:"earlier,omitempty"`
}

func newFailureWriter(path string, dryRun bool) (*failureWriter, error) {
	if dryRun || path == "" {
		return &failureWriter{}, nil
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, err
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("failures file: %w", err)
	}
	return &failureWriter{path: path, f: f, w: bufio.NewWriter(f)}, nil
}

// write appends one failure; record is the source record as JSON, or nil.
func (fw *failureWriter) write(e *msg.Error, record []byte) error {
	if fw.w == nil {
		return nil
	}
	line := FailureLine{Origin: e.Origin.String(), Stage: string(e.Stage), Key: e.Key, Code: e.Code, Error: e.Err.Error(), Record: record}
	switch {
	case len(e.Raw) == 0:
	case record == nil && len(e.Raw) < maxRaw && json.Valid(e.Raw) && e.Raw[0] == '{':
		line.Record = e.Raw // the readable part of a row (XLSX, Parquet)
	default:
		line.Raw = capRaw(e.Raw) // the row's text (CSV)
	}
	return fw.writeLine(line)
}

// writeLine appends one line.
func (fw *failureWriter) writeLine(line FailureLine) error {
	if fw.w == nil {
		return nil
	}
	b, err := json.Marshal(line)
	if err != nil {
		return fmt.Errorf("failures file: %w", err)
	}
	fw.n++
	fw.w.Write(b)
	_, err = fw.w.Write([]byte{'\n'})
	return err
}

func (fw *failureWriter) Close() error {
	if fw.f == nil {
		return nil
	}
	if err := fw.w.Flush(); err != nil {
		fw.f.Close()
		return err
	}
	if err := fw.f.Close(); err != nil {
		return err
	}
	if fw.n == 0 {
		// No failures: leave no stale file from an earlier run behind.
		return os.Remove(fw.path)
	}
	return nil
}
