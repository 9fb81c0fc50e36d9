package gorgias

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/msgmigrate/msgmigrate/transport"
)

// MaxRestarts bounds how often a listing starts again, after its cursor was
// refused, without handing out a message in between.
const MaxRestarts = 3

// MaxEmptyPages bounds how many empty pages with a next cursor a listing
// follows in a row: a cursor that moves without handing out anything would
// otherwise page forever.
const MaxEmptyPages = 10

// Item is one message of a listing: its bytes, id and creation time.
type Item struct {
	Raw     json.RawMessage
	ID      int64
	Created time.Time
}

// ItemError is a listed message that cannot be read (no id, a creation
// time that is not one): that message's failure, not the listing's.
type ItemError struct {
	Page int
	ID   int64           // 0 when unknown
	Raw  json.RawMessage // the message as listed
	Err  error
}

func (e *ItemError) Error() string { return e.Err.Error() }
func (e *ItemError) Unwrap() error { return e.Err }

// Listing pages through GET /api/messages by created_datetime. Cursors are
// short-lived and never a checkpoint: when one is refused (expired), the
// listing starts again from the top and skips what it already handed out
// — by creation time, and by id among messages created at the same instant,
// since the order among those is not documented. A cursor that comes back
// is an error, not an endless loop.
type Listing struct {
	c        *Client
	q        ListQuery
	log      *slog.Logger
	buf      []json.RawMessage
	done     bool
	started  bool
	seen     map[string]bool // cursors used since the listing (re)started
	last     time.Time       // the creation time of the last message handed out
	atLast   map[int64]bool  // ids handed out created at last
	bad      map[int64]bool  // ids reported as unreadable
	handed   bool
	skipping bool // after a restart: skipping what was handed out
	restarts int  // restarts since the last message handed out
	empty    int  // empty pages in a row
	Pages    int  // pages read
	Restarts int  // restarts in all
}

// Messages lists the account's messages (q.Cursor is ignored).
func (c *Client) Messages(q ListQuery, log *slog.Logger) *Listing {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	q.Cursor = ""
	return &Listing{c: c, q: q, log: log, seen: map[string]bool{}, atLast: map[int64]bool{}, bad: map[int64]bool{}}
}

// Next returns the next message, an *ItemError for one that cannot be read,
// or io.EOF after the last.
func (l *Listing) Next(ctx context.Context) (Item, error) {
	for {
		if err := ctx.Err(); err != nil {
			return Item{}, err
		}
		if len(l.buf) == 0 {
			if l.done {
				return Item{}, io.EOF
			}
			if err := l.fetch(ctx); err != nil {
				return Item{}, err
			}
			continue
		}
		raw := l.buf[0]
		l.buf = l.buf[1:]
		var head struct {
			ID      int64  `json:"id"`
			Created string `json:"created_datetime"`
		}
		if err := json.Unmarshal(raw, &head); err != nil || head.ID == 0 {
			if l.skipping {
				continue // already reported before the restart
			}
			if err == nil {
				err = errors.New("a message without an id")
			}
			return Item{}, &ItemError{Page: l.Pages, Raw: raw, Err: err}
		}
		created, err := ParseTime(head.Created)
		if err != nil {
			if l.bad[head.ID] {
				continue // reported before the restart
			}
			l.bad[head.ID] = true
			return Item{}, &ItemError{Page: l.Pages, ID: head.ID, Raw: raw, Err: fmt.Errorf("created_datetime %q is not a datetime", head.Created)}
		}
		if l.handed && created.Equal(l.last) && l.atLast[head.ID] {
			continue // handed out before a restart
		}
		if l.skipping {
			if l.before(created) {
				continue
			}
			if !created.Equal(l.last) {
				l.skipping = false
			}
		}
		if !l.handed || !created.Equal(l.last) {
			clear(l.atLast)
		}
		l.last, l.handed, l.restarts = created, true, 0
		l.atLast[head.ID] = true
		return Item{Raw: raw, ID: head.ID, Created: created}, nil
	}
}

// Stop ends the listing: the rest is not wanted.
func (l *Listing) Stop() { l.buf, l.done = nil, true }

// before reports whether a message created at t comes before the last one
// handed out, in the listing's order.
func (l *Listing) before(t time.Time) bool {
	return l.handed && !t.Equal(l.last) && t.Before(l.last) != l.q.Desc
}

func (l *Listing) fetch(ctx context.Context) error {
	q := l.q
	for {
		if !l.started {
			q.Cursor = ""
		}
		p, err := l.c.List(ctx, q)
		var e *transport.Error
		switch {
		case err == nil:
		case errors.As(err, &e) && e.Code == CodeCursorRefused:
			l.restarts++
			l.Restarts++
			if l.restarts > MaxRestarts {
				return fmt.Errorf("gorgias: cursors keep expiring before the next page is read (%d restarts without progress): lower source.limit or let the sink go faster: %w", l.restarts-1, err)
			}
			l.log.Warn("gorgias: the listing's cursor was refused (expired); listing again from the start and skipping what was read",
				"status", e.Status, "pages_read", l.Pages)
			l.started, l.skipping = false, l.handed
			clear(l.seen)
			continue
		default:
			return fmt.Errorf("gorgias: page %d: %w", l.Pages+1, err)
		}
		l.started = true
		l.Pages++
		l.buf = p.Data
		next := ""
		if p.Meta.NextCursor != nil {
			next = *p.Meta.NextCursor
		}
		if next == "" {
			l.done = true
			return nil
		}
		if l.seen[next] {
			return fmt.Errorf("gorgias: page %d: the API gave a next cursor it gave before: the listing would not end", l.Pages)
		}
		if len(p.Data) == 0 {
			l.empty++
			if l.empty > MaxEmptyPages {
				return fmt.Errorf("gorgias: page %d: %d empty pages in a row, each with a next cursor: the listing makes no progress", l.Pages, l.empty)
			}
		} else {
			l.empty = 0
		}
		l.seen[next] = true
		l.q.Cursor, q.Cursor = next, next
		return nil
	}
}
