package pipeline

import (
	"bufio"
	"fmt"
	"os"
	"sync"

	"github.com/msgmigrate/msgmigrate/load"
	"github.com/msgmigrate/msgmigrate/msg"
)

// spill keeps the payloads and source records of items waiting in open
// batches on disk rather than in memory, so that holding a batch open per
// route — what keeps requests full when thousands of routes interleave —
// costs a few dozen bytes of memory per item instead of a kilobyte.
//
// Bytes go to segment files appended sequentially; each segment counts its
// live entries and is deleted as soon as it is sealed and none is left, so
// the disk in use stays near what is open, not what was read.
type spill struct {
	dir     string
	segSize int64

	mu   sync.Mutex
	segs map[int32]*segment
	cur  *segment
	next int32
}

type segment struct {
	f    *os.File
	w    *bufio.Writer
	size int64
	live int
}

// spillSegment bounds one segment file. A segment is deleted once nothing
// in it is open, so one long-open item keeps its whole segment on disk:
// segments are small next to max_open_bytes (a quarter of it, 1–16 MiB).
func spillSegment(maxOpen int) int64 {
	if maxOpen <= 0 {
		maxOpen = load.DefaultMaxOpen
	}
	return int64(min(max(maxOpen/4, 1<<20), 16<<20))
}

func newSpill(dir string, maxOpen int) *spill {
	return &spill{dir: dir, segSize: spillSegment(maxOpen), segs: map[int32]*segment{}, next: 1}
}

// put stores b and returns where it is.
func (s *spill) put(b []byte) (msg.SpillRef, error) {
	if len(b) == 0 {
		return msg.SpillRef{}, nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cur == nil || s.cur.size >= s.segSize {
		if err := s.rotate(); err != nil {
			return msg.SpillRef{}, err
		}
	}
	seg := s.cur
	ref := msg.SpillRef{Seg: s.next - 1, Off: seg.size, Len: int32(len(b))}
	if _, err := seg.w.Write(b); err != nil {
		return msg.SpillRef{}, fmt.Errorf("spill file: %w", err)
	}
	seg.size += int64(len(b))
	seg.live++
	return ref, nil
}

// rotate seals the current segment and starts a new one.
func (s *spill) rotate() error {
	if old := s.cur; old != nil {
		if err := old.w.Flush(); err != nil {
			return fmt.Errorf("spill file: %w", err)
		}
		old.w = nil // sealed: its buffer is garbage, not a quarter MiB per segment kept

		if old.live == 0 {
			s.drop(s.next - 1)
		}
	}
	f, err := os.CreateTemp(s.dir, "msgmigrate-spill-*")
	if err != nil {
		return fmt.Errorf("spill file: %w", err)
	}
	// Unlinked at once: the space is freed however the process ends.
	os.Remove(f.Name())
	s.cur = &segment{f: f, w: bufio.NewWriterSize(f, 256<<10)}
	s.segs[s.next] = s.cur
	s.next++
	return nil
}

// get reads back what put stored.
func (s *spill) get(ref msg.SpillRef) ([]byte, error) {
	if ref.Len == 0 {
		return nil, nil
	}
	s.mu.Lock()
	seg := s.segs[ref.Seg]
	if seg == nil {
		s.mu.Unlock()
		return nil, fmt.Errorf("spill file: segment %d is gone", ref.Seg)
	}
	if seg == s.cur && seg.w.Buffered() > 0 {
		if err := seg.w.Flush(); err != nil {
			s.mu.Unlock()
			return nil, fmt.Errorf("spill file: %w", err)
		}
	}
	s.mu.Unlock()
	b := make([]byte, ref.Len)
	if _, err := seg.f.ReadAt(b, ref.Off); err != nil {
		return nil, fmt.Errorf("spill file: %w", err)
	}
	return b, nil
}

// release says an entry is no longer needed.
func (s *spill) release(ref msg.SpillRef) {
	if ref.Len == 0 {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	seg := s.segs[ref.Seg]
	if seg == nil {
		return
	}
	seg.live--
	if seg.live == 0 && seg != s.cur {
		s.drop(ref.Seg)
	}
}

func (s *spill) drop(id int32) {
	if seg := s.segs[id]; seg != nil {
		seg.f.Close()
		delete(s.segs, id)
	}
}

// Close removes every segment.
func (s *spill) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for id := range s.segs {
		s.drop(id)
	}
	s.cur = nil
	return nil
}
