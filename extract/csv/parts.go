package csv

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"

	"github.com/msgmigrate/msgmigrate/extract"
	"github.com/msgmigrate/msgmigrate/msg"
)

// Parts reads a directory (or glob) of CSV part files one after the other,
// each with its header; origins name the part file.
type Parts struct {
	files []string
	names []string
	o     Options
	cur   *Source
	next  int
	done  int64 // bytes of the parts finished
	total int64
	first []string // the first part's header
	hints []string
}

// OpenParts opens the part files at path (a directory or a glob, as written
// in the job: name), only a shard's when shard.Count > 1.
func OpenParts(path, name string, o Options, shard extract.Shard) (*Parts, error) {
	files, err := extract.PartFiles("csv", path, shard)
	if err != nil {
		return nil, err
	}
	p := &Parts{files: files, o: o}
	dir := name
	if st, err := os.Stat(path); err != nil || !st.IsDir() {
		dir = filepath.Dir(name) // a glob: its matches are in its directory
	}
	for _, f := range files {
		st, err := os.Stat(f)
		if err != nil {
			return nil, err
		}
		p.total += st.Size()
		p.names = append(p.names, filepath.Join(dir, filepath.Base(f)))
	}
	if len(files) > 0 {
		if err := p.open(); err != nil {
			return nil, err
		}
		p.first = p.cur.Columns()
	}
	return p, nil
}

func (p *Parts) open() error {
	s, err := OpenWith(p.files[p.next], p.names[p.next], p.o)
	if err != nil {
		return err
	}
	p.cur = s
	p.next++
	return nil
}

// Next returns the next row of the current part, going on to the next part.
func (p *Parts) Next(ctx context.Context) (*msg.Record, error) {
	for p.cur != nil {
		rec, err := p.cur.Next(ctx)
		var me *msg.Error
		if !errors.Is(err, io.EOF) || errors.As(err, &me) {
			return rec, err
		}
		p.hints = append(p.hints, p.cur.Hints()...)
		_, size := p.cur.Progress()
		p.done += size
		if err := p.cur.Close(); err != nil {
			return nil, err
		}
		p.cur = nil
		if p.next < len(p.files) {
			if err := p.open(); err != nil {
				return nil, err
			}
		}
	}
	return nil, io.EOF
}

// Columns are the first part's header.
func (p *Parts) Columns() []string { return p.first }

// Hints are every part's hints.
func (p *Parts) Hints() []string {
	if p.cur != nil {
		return append(p.hints, p.cur.Hints()...)
	}
	return p.hints
}

// Progress counts the bytes of every part.
func (p *Parts) Progress() (done, total int64) {
	done = p.done
	if p.cur != nil {
		d, _ := p.cur.Progress()
		done += d
	}
	return done, p.total
}

// Close closes the part being read.
func (p *Parts) Close() error {
	if p.cur == nil {
		return nil
	}
	return p.cur.Close()
}

// ShardedByFile: Parts reads only its shard's files.
func (p *Parts) ShardedByFile() bool { return true }
