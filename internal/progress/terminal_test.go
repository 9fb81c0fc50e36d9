package progress

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
)

type fakeTTY struct {
	bytes.Buffer
	width int
}

func (f *fakeTTY) Width() int { return f.width }

func TestTerminal(t *testing.T) {
	var out fakeTTY
	out.width = 120
	term := NewTerminal(&out)
	assert.Equal(t, 120, term.Width())
	assert.Equal(t, 80, NewTerminal(&bytes.Buffer{}).Width(), "a writer that cannot tell")

	fmt.Fprint(term, "before any status\n")
	term.Draw("status 1")
	term.Draw("status 2")
	fmt.Fprint(term, "level=WARN msg=throttled\n")
	term.Draw("status 3")
	fmt.Fprint(term, "a partial")
	term.Draw("status 4")
	term.Finish("final")
	fmt.Fprint(term, "summary\n")
	term.Draw("too late")

	assert.Equal(t, "before any status\n"+
		"\rstatus 1\x1b[K"+
		"\rstatus 2\x1b[K"+
		"\r\x1b[K"+"level=WARN msg=throttled\n"+"\rstatus 2\x1b[K"+ // the log line above, the status under it
		"\rstatus 3\x1b[K"+
		"\r\x1b[K"+"a partial"+
		"\nstatus 4\x1b[K"+ // a line not ended is not drawn over
		"\rfinal\x1b[K\n"+
		"summary\n", out.String())
}
