package tracezilla

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/google/uuid"
)

// ListQuery says which messages to list, and in which order.
type ListQuery struct {
	PerPage int
	// SortBy is created_at, updated_at or sent_at. Page numbers over a
	// listing sorted by updated_at shift while messages change (pending →
	// sent), so a full read sorts by created_at, which never changes
	// (VENDORS.md, [I]).
	SortBy string
	Desc   bool
	Status string // status[eq]: pending, failed or sent; "" for all
}

func (q ListQuery) values() url.Values {
	v := url.Values{}
	v.Set("perPage", strconv.Itoa(q.PerPage))
	v.Set("sortBy", q.SortBy)
	dir := "asc"
	if q.Desc {
		dir = "desc"
	}
	v.Set("sortDirection", dir)
	if q.Status != "" {
		v.Set("status[eq]", q.Status)
	}
	return v
}

// PagingError says a listing cannot be trusted to be complete: it read
// less than the API said exists, or the API's paging contradicts itself.
// A run that meets one has not completed (its watermark stays); the next
// run reads again.
type PagingError struct {
	Page   int // the page it happened on (1-based); 0 when not one page's
	Reason string
}

func (e *PagingError) Error() string {
	if e.Page > 0 {
		return fmt.Sprintf("tracezilla: the message listing is not complete (page %d): %s", e.Page, e.Reason)
	}
	return "tracezilla: the message listing is not complete: " + e.Reason
}

// Lister reads a listing page by page, following the next-page links in
// either reading (links.next, links.next_page) on the configured origin
// only, and hands out each message once. It reads no further than told
// to (Stop) or to the end, where it checks that it read everything the
// API said exists:
//
//   - every page answers with a next-page key (links.next or
//     links.next_page, null at the end): a page without either is an
//     error, never the end of the listing;
//   - a next link that repeats a page read, skips one, or changes the
//     query (another sort, another filter) is an error;
//   - with meta (the pagination page's reading): each page is the one
//     asked for, the listing never shrinks while it is read (pages would
//     have shifted under it), the last page read is meta.last_page, and
//     the messages read number at least meta.total.
type Lister struct {
	c    *Client
	q    url.Values
	path string

	next    string // the URL of the next page; "" at the end
	page    int    // the number of the page last read (1-based)
	done    bool   // no more pages: the end checks come next
	stopped bool
	eof     bool
	err     error // sticky

	meta       bool // the first page had meta: every page must
	firstTotal int
	lastMeta   *Meta
	urls       map[string]bool

	ids    map[[16]byte]struct{}
	others map[string]struct{}
	unique int
	dups   int
	date   time.Time
}

// List starts a listing.
func (c *Client) List(q ListQuery) *Lister {
	v := q.values()
	v.Set("page", "1")
	u := *c.Base
	u.Path = c.listPath()
	u.RawQuery = v.Encode()
	return &Lister{c: c, q: q.values(), path: u.Path, next: u.String(), urls: map[string]bool{},
		ids: map[[16]byte]struct{}{}, others: map[string]struct{}{}}
}

// Next returns the messages of the next page not handed out before (a
// message a shifted page shows again is left out), or io.EOF after the
// last page once the end checks pass. A *PagingError says the listing is
// not complete; other errors are the transport's.
func (l *Lister) Next(ctx context.Context) ([]json.RawMessage, error) {
	for {
		if l.err != nil {
			return nil, l.err
		}
		if l.eof || l.stopped {
			return nil, io.EOF
		}
		if l.done {
			if err := l.complete(); err != nil {
				l.err = err
				return nil, err
			}
			l.eof = true
			return nil, io.EOF
		}
		items, err := l.fetch(ctx)
		if err != nil {
			return nil, err
		}
		if len(items) > 0 {
			return items, nil
		}
	}
}

// Stop ends the listing where it is: the rest is not wanted (an
// incremental read that reached its watermark). No end checks follow.
func (l *Lister) Stop() { l.stopped = true }

// Page is the number of the page last read.
func (l *Lister) Page() int { return l.page }

// Total is what the first page's meta said exists (0 without meta).
func (l *Lister) Total() int { return l.firstTotal }

// Repeats is how many messages a page showed again and were left out.
func (l *Lister) Repeats() int { return l.dups }

// Started is the server's clock (its Date header) at the first page: a
// message updated after it may have been read before it changed.
func (l *Lister) Started() time.Time { return l.date }

func (l *Lister) fail(reason string, a ...any) error {
	return &PagingError{Page: l.page, Reason: fmt.Sprintf(reason, a...)}
}

// fetch reads the page l.next points to and works out the one after it.
// A page whose paging is wrong still hands out its messages; the error
// comes on the next call (a listing never ends quietly after it).
func (l *Lister) fetch(ctx context.Context) ([]json.RawMessage, error) {
	u := l.next
	p, date, err := l.c.page(ctx, u)
	if err != nil {
		return nil, fmt.Errorf("tracezilla: page %d: %w", l.page+1, err)
	}
	l.page++
	if l.page == 1 {
		if t, err := http.ParseTime(date); err == nil {
			l.date = t
		}
	}
	fresh := l.keepNew(p.Data)
	l.err = l.after(u, p, len(fresh))
	return fresh, nil
}

// after checks a page's paging and sets where to read next.
func (l *Lister) after(u string, p *Page, fresh int) error {
	if err := l.checkMeta(p.Meta); err != nil {
		return err
	}
	next, known, err := p.Next()
	var pe *PagingError
	if errors.As(err, &pe) {
		pe.Page = l.page
		return pe
	}
	if !known {
		return l.fail("the answer has neither links.next nor links.next_page: it does not say whether more pages follow, and a listing never ends on a missing key")
	}
	if next == "" {
		l.done, l.next = true, ""
		return nil
	}
	switch {
	case len(p.Data) == 0:
		return l.fail("an empty page links to another")
	case fresh == 0:
		return l.fail("every message on it was read before: the listing is going round in circles")
	}
	l.next, err = l.follow(u, next)
	return err
}

// checkMeta checks a page's meta against the pages before it.
func (l *Lister) checkMeta(m *Meta) error {
	if l.page == 1 {
		l.meta = m != nil
		if m != nil {
			l.firstTotal = m.Total
		}
	}
	switch {
	case m == nil && l.meta:
		return l.fail("page 1 had meta (current_page, last_page, total) and this page has none")
	case m == nil:
		return nil
	case !l.meta:
		return nil // meta that appears late is read as a bonus, not trusted
	case m.CurrentPage != l.page:
		return l.fail("asked for page %d, the answer says it is page %d", l.page, m.CurrentPage)
	case l.lastMeta != nil && m.Total < l.lastMeta.Total:
		return l.fail("the listing shrank from %d to %d messages while it was read: its pages shifted and messages may have been skipped", l.lastMeta.Total, m.Total)
	}
	l.lastMeta = m
	return nil
}

// follow checks a next link and makes it the URL to read: on the
// configured origin and the listing's path, the page after this one (when
// it says), with the listing's own query (a link that leaves a parameter
// out gets it back; one that changes it is refused).
func (l *Lister) follow(current, link string) (string, error) {
	cur, err := url.Parse(current)
	if err != nil {
		return "", l.fail("%v", err)
	}
	ref, err := url.Parse(link)
	if err != nil {
		return "", l.fail("the next page link %q is not a URL: %v", link, err)
	}
	u := cur.ResolveReference(ref)
	if !sameOrigin(u, l.c.Base) {
		return "", l.fail("the next page link points to %s, not %s: refusing to follow it with the token", u.Host, l.c.Base.Host)
	}
	if u.Path != l.path {
		return "", l.fail("the next page link points to %s, not the listing %s", u.Path, l.path)
	}
	q := u.Query()
	for k, vs := range l.q {
		switch {
		case !q.Has(k):
			q[k] = vs
		case q.Get(k) != vs[0]:
			return "", l.fail("the next page link changes %s from %q to %q", k, vs[0], q.Get(k))
		}
	}
	if v := q.Get("page"); v != "" {
		n, err := strconv.Atoi(v)
		switch {
		case err != nil:
			return "", l.fail("the next page link's page %q is not a number", v)
		case n <= l.page:
			return "", l.fail("the next page link repeats page %d", n)
		case n != l.page+1:
			return "", l.fail("the next page link skips from page %d to page %d", l.page, n)
		}
	}
	u.RawQuery = q.Encode()
	s := u.String()
	if l.urls[s] {
		return "", l.fail("the next page link repeats one already read")
	}
	l.urls[s] = true
	if l.meta && l.lastMeta != nil && l.lastMeta.CurrentPage >= l.lastMeta.LastPage {
		return "", l.fail("meta says page %d is the last, yet it links to another", l.lastMeta.LastPage)
	}
	return s, nil
}

// complete runs the end checks, after the last page.
func (l *Lister) complete() error {
	if !l.meta || l.lastMeta == nil {
		return nil // links.next_page alone: the null link is all there is to go by
	}
	m := l.lastMeta
	if m.CurrentPage < m.LastPage {
		return l.fail("the listing stopped at page %d of %d (meta.last_page)", m.CurrentPage, m.LastPage)
	}
	if l.unique < l.firstTotal {
		return l.fail("read %d messages of the %d meta.total said exist", l.unique, l.firstTotal)
	}
	return nil
}

// keepNew drops the messages handed out before and counts the rest. A
// message without an id is kept: its reader fails it.
func (l *Lister) keepNew(items []json.RawMessage) []json.RawMessage {
	out := items[:0:0]
	for _, raw := range items {
		var head struct {
			ID json.RawMessage `json:"id"`
		}
		if json.Unmarshal(raw, &head) != nil || len(head.ID) == 0 || string(head.ID) == "null" {
			l.unique++
			out = append(out, raw)
			continue
		}
		if l.seen(head.ID) {
			l.dups++
			continue
		}
		l.unique++
		out = append(out, raw)
	}
	return out
}

// seen records id and reports whether it was there before. UUIDs (every
// message id, by seed 000) take 16 bytes each, so a team's millions of
// messages fit.
func (l *Lister) seen(id json.RawMessage) bool {
	var s string
	if json.Unmarshal(id, &s) != nil {
		s = string(id) // a number: its text
	}
	if u, err := uuid.Parse(s); err == nil && len(s) == 36 {
		if _, ok := l.ids[u]; ok {
			return true
		}
		l.ids[u] = struct{}{}
		return false
	}
	if _, ok := l.others[s]; ok {
		return true
	}
	l.others[s] = struct{}{}
	return false
}
