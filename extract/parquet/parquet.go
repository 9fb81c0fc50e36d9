// Package parquet is the "parquet" source: a file, a directory of part files
// or a glob, read in lexical order by each file's own schema, column names as
// written.
//
// It walks each column chunk page by page (the footer and page headers are
// decoded with github.com/xitongsys/parquet-go's Thrift types) and decodes a
// page's values as its rows are asked for, chunk_rows at a time, so memory
// is a few pages a column whatever wrote the file: one huge row group (Spark,
// pyarrow), a dictionary page whose indices hold a whole row group's rows
// (Arrow), large pages. A page that cannot be read — damaged bytes, a bad
// checksum, a header that does not decode — fails the rows it holds, each by
// its number, and reading goes on at the next page (found from its header,
// or from the offset index when the header itself is damaged) and the next
// row group.
package parquet

import (
	"context"
	"fmt"
	"io"
	"os"
	"sync/atomic"

	"github.com/msgmigrate/msgmigrate/config"
	"github.com/msgmigrate/msgmigrate/extract"
	"github.com/msgmigrate/msgmigrate/msg"
)

func init() { extract.Register("parquet", open) }

// Config is the parquet source's part of a job file.
type Config struct {
	Kind      string `yaml:"kind"`
	Path      string `yaml:"path"`       // a file, a directory, or a glob
	ChunkRows int    `yaml:"chunk_rows"` // rows read from each column at a time
}

// DefaultChunkRows bounds the rows decoded at once.
const DefaultChunkRows = 1024

// Source reads Parquet files one after the other.
type Source struct {
	files   []string
	names   []string
	chunk   int
	next    int // next file to open
	cur     *file
	total   int64
	doneSum atomic.Int64 // bytes of finished files
	curDone atomic.Int64 // bytes of the file being read, as its rows go (Progress reads it from another goroutine)
	cols    []string     // Columns, once read
}

func open(_ context.Context, sec config.Section, env extract.Env) (extract.Source, error) {
	var c Config
	if err := sec.Decode(&c); err != nil {
		return nil, err
	}
	if c.Path == "" {
		return nil, fmt.Errorf("%s: source.path is required for kind parquet", sec.File)
	}
	path := sec.Path(c.Path)
	var shard extract.Shard
	if env.Files != nil {
		shard = *env.Files
	}
	return OpenShard(path, c.ChunkRows, shard)
}

// Open lists the files at path (a file, a directory of *.parquet, or a glob).
func Open(path string, chunkRows int) (*Source, error) {
	return OpenShard(path, chunkRows, extract.Shard{})
}

// OpenShard is Open reading only a shard's part files.
func OpenShard(path string, chunkRows int, shard extract.Shard) (*Source, error) {
	files, err := extract.PartFiles("parquet", path, shard)
	if err != nil {
		return nil, err
	}
	if chunkRows <= 0 {
		chunkRows = DefaultChunkRows
	}
	s := &Source{files: files, chunk: chunkRows}
	for _, f := range files {
		st, err := os.Stat(f)
		if err != nil {
			return nil, fmt.Errorf("parquet source: %w", err)
		}
		// A file that is not Parquet at all (a CSV named .parquet, a
		// truncated copy) is the job's mistake, not a record's: refused
		// before anything is read or sent (exit 1), naming the file.
		pf, err := openFile(f, 1)
		if err != nil {
			return nil, fmt.Errorf("parquet source: %s: %w", f, noEOF(err))
		}
		pf.close()
		s.total += st.Size()
		s.names = append(s.names, f)
	}
	return s, nil
}

// Next returns the next row.
func (s *Source) Next(ctx context.Context) (*msg.Record, error) {
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if s.cur == nil {
			if s.next >= len(s.files) {
				return nil, io.EOF
			}
			name := s.files[s.next]
			s.next++
			f, err := openFile(name, s.chunk)
			if err != nil {
				// A file that cannot be read at all costs that file: one
				// failure naming it, and on to the next.
				s.finished(name)
				return nil, &msg.Error{Origin: msg.Origin{Source: name}, Stage: msg.StageRead, Err: noEOF(err)}
			}
			s.cur = f
		}
		rec, err := s.cur.next()
		if err == io.EOF { // the file's end, never a row's failure
			s.cur.close()
			s.finished(s.cur.name)
			s.cur = nil
			s.curDone.Store(0)
			continue
		}
		s.curDone.Store(s.cur.progress())
		return rec, err
	}
}

func (s *Source) finished(name string) {
	if st, err := os.Stat(name); err == nil {
		s.doneSum.Add(st.Size())
	}
}

// Progress reports bytes of the files finished and of the one being read.
func (s *Source) Progress() (done, total int64) {
	d := s.doneSum.Load() + s.curDone.Load()
	return min(d, s.total), s.total
}

// Columns returns the top-level columns of the files' schemas, as written:
// those of the first file, then any that a later part file adds. nil when
// no footer can be read (each such file fails when it is read).
func (s *Source) Columns() []string {
	if s.cols != nil {
		return s.cols
	}
	seen := map[string]bool{}
	for _, name := range s.files {
		f, err := openFile(name, 1)
		if err != nil {
			continue
		}
		for _, c := range f.root.children {
			if !seen[c.name] {
				seen[c.name] = true
				s.cols = append(s.cols, c.name)
			}
		}
		f.close()
	}
	return s.cols
}

// Close closes the file being read.
func (s *Source) Close() error {
	if s.cur != nil {
		s.cur.close()
		s.cur = nil
	}
	return nil
}

// ShardedByFile: the source reads only its shard's files.
func (s *Source) ShardedByFile() bool { return true }
