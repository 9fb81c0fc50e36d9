package progress

import (
	"io"
	"sync"

	"golang.org/x/term"
)

// Terminal keeps one status line at the bottom of a terminal, redrawn in
// place, and lets other lines (a log's) through above it: a line written to
// it clears the status, is written, and the status is drawn again under it.
// Give the same Terminal to the logger and to the run, so that neither
// garbles the other.
type Terminal struct {
	mu      sync.Mutex
	w       io.Writer
	status  string // the line on screen, "" when none
	ended   bool
	midLine bool // the last write did not end its line
}

// NewTerminal draws on w, which should be a terminal.
func NewTerminal(w io.Writer) *Terminal { return &Terminal{w: w} }

// Width is the terminal's width in columns: asked each time, so a resized
// window is followed; 80 when w cannot tell. A w that is not a file can say
// with a Width() int method.
func (t *Terminal) Width() int {
	switch w := t.w.(type) {
	case interface{ Fd() uintptr }:
		if c, _, err := term.GetSize(int(w.Fd())); err == nil && c > 0 {
			return c
		}
	case interface{ Width() int }:
		if c := w.Width(); c > 0 {
			return c
		}
	}
	return 80
}

// Draw shows line as the status, in place of the last one: carriage return,
// the line, clear to the end of the line.
func (t *Terminal) Draw(line string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.ended {
		return
	}
	t.status = line
	t.draw("")
}

// Finish shows line as the last status and ends it with a newline: it stays
// on screen, and what is written after goes below it.
func (t *Terminal) Finish(line string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.ended {
		return
	}
	t.ended, t.status = true, line
	t.draw("\n")
	t.status = ""
}

func (t *Terminal) draw(end string) {
	pre := "\r"
	if t.midLine {
		pre = "\n" // the other line was not ended: do not draw over it
		t.midLine = false
	}
	io.WriteString(t.w, pre+t.status+"\x1b[K"+end)
}

// Write writes p above the status line.
func (t *Terminal) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.status != "" && !t.midLine {
		if _, err := io.WriteString(t.w, "\r\x1b[K"); err != nil {
			return 0, err
		}
	}
	n, err := t.w.Write(p)
	if err != nil || len(p) == 0 {
		return n, err
	}
	t.midLine = p[len(p)-1] != '\n'
	if t.status != "" && !t.midLine {
		t.draw("")
	}
	return n, nil
}
