package xlsx

// capped collects a value's text up to a limit, counting all of it. It keeps
// the text in pieces of a fixed size, so that a value near the limit costs
// its size once, where a growing slice costs its copies too, and a value
// over the limit costs the limit at most, then its pieces are let go.
type capped struct {
	limit  int
	size   int64    // the value's bytes, all of them
	pieces [][]byte // each cappedPiece long, but the last
	kept   int
}

const cappedPiece = 64 << 10

func (c *capped) reset(limit int) {
	if len(c.pieces) > 1 {
		c.pieces = c.pieces[:1] // a long value's pieces go; one is reused
	}
	if len(c.pieces) == 1 {
		c.pieces[0] = c.pieces[0][:0]
	}
	c.limit, c.size, c.kept = limit, 0, 0
}

// write adds text, keeping what fits under the limit.
func (c *capped) write(p []byte) {
	c.size += int64(len(p))
	p = p[:min(len(p), c.limit-c.kept)]
	for len(p) > 0 {
		if len(c.pieces) == 0 || len(c.pieces[len(c.pieces)-1]) == cappedPiece {
			c.pieces = append(c.pieces, make([]byte, 0, cappedPiece))
		}
		last := &c.pieces[len(c.pieces)-1]
		n := min(len(p), cappedPiece-len(*last))
		*last = append(*last, p[:n]...)
		c.kept += n
		p = p[n:]
	}
}

// over reports whether the value is over the limit.
func (c *capped) over() bool { return c.size > int64(c.limit) }

// String is the value kept, whole when not over the limit.
func (c *capped) String() string {
	if len(c.pieces) == 1 {
		return string(c.pieces[0])
	}
	b := make([]byte, 0, c.kept)
	for _, p := range c.pieces {
		b = append(b, p...)
	}
	return string(b)
}

// start is the value's first keepBytes (less when the limit is lower), no
// character cut.
func (c *capped) start() string {
	if len(c.pieces) == 0 {
		return ""
	}
	b := c.pieces[0] // keepBytes < cappedPiece
	return string(b[:cutLen(b)])
}
