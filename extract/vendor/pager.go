package vendor

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"strings"
	"time"

	"github.com/msgmigrate/msgmigrate/config"
	"github.com/msgmigrate/msgmigrate/extract/jsonl"
	"github.com/msgmigrate/msgmigrate/msg"
	"github.com/msgmigrate/msgmigrate/transport"
)

// Window is the incremental state a vendor source keeps: where to start
// (since), how far the last complete run got (its watermark), and the
// lookback. Embedded in a source, it implements extract.Incremental.
type Window struct {
	since    time.Time
	explicit bool // since came from the job, not from a watermark
	lookback time.Duration
	mark     time.Time
}

// NewWindow reads a source's since: and lookback: keys.
func NewWindow(file, since string, lookback config.Duration) (Window, error) {
	w := Window{lookback: time.Hour}
	if lookback > 0 {
		w.lookback = time.Duration(lookback)
	}
	if since != "" {
		t, err := time.Parse(time.RFC3339Nano, since)
		if err != nil {
			return w, fmt.Errorf("%s: source.since %q: want RFC 3339, e.g. 2024-01-01T00:00:00Z", file, since)
		}
		w.since, w.explicit = t, true
	}
	return w, nil
}

// Since starts from t unless the job named its own since.
func (w *Window) Since(t time.Time) {
	if !w.explicit && !t.IsZero() {
		w.since = t
	}
}

// From is where reading starts; zero reads everything.
func (w *Window) From() time.Time { return w.since }

// Watermark is the newest record time handed out.
func (w *Window) Watermark() time.Time { return w.mark }

// Lookback is how far before the watermark the next run starts.
func (w *Window) Lookback() time.Duration { return w.lookback }

// Saw moves the watermark over a record handed out.
func (w *Window) Saw(t time.Time) {
	if t.After(w.mark) {
		w.mark = t
	}
}

// Pager hands out the items of a paged listing one at a time, fetching the
// next page when the last is used up.
type Pager struct {
	// Fetch reads the next page: its items, and whether it is the last.
	Fetch func(ctx context.Context) (items []json.RawMessage, last bool, err error)
	buf   []json.RawMessage
	done  bool
	Page  int // pages read
}

// Next returns the next item, or io.EOF after the last page.
func (p *Pager) Next(ctx context.Context) (json.RawMessage, error) {
	for len(p.buf) == 0 {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if p.done {
			return nil, io.EOF
		}
		items, last, err := p.Fetch(ctx)
		if err != nil {
			return nil, err
		}
		p.Page++
		p.buf, p.done = items, last
	}
	it := p.buf[0]
	p.buf = p.buf[1:]
	return it, nil
}

// Stop ends the listing: the rest is not wanted.
func (p *Pager) Stop() { p.buf, p.done = nil, true }

// Decode turns a vendor's JSON object into a record named "VENDOR message
// ID", with the time of its timeField. What cannot be read fails that record.
func Decode(vendor string, page int, raw json.RawMessage, idField, timeField string) (*msg.Record, time.Time, error) {
	fields, err := jsonl.Decode(raw)
	if err != nil {
		return nil, time.Time{}, &msg.Error{Origin: msg.Origin{Source: vendor, ID: fmt.Sprintf("on page %d", page)}, Stage: msg.StageRead, Err: err}
	}
	var id string
	switch v := fields[idField].(type) {
	case string:
		id = v
	case int64:
		if v != 0 {
			id = fmt.Sprint(v)
		}
	}
	if id == "" {
		return nil, time.Time{}, &msg.Error{Origin: msg.Origin{Source: vendor, ID: fmt.Sprintf("on page %d", page)}, Stage: msg.StageRead,
			Err: fmt.Errorf("a message without an %s", idField)}
	}
	origin := msg.Origin{Source: vendor, ID: id}
	ts, _ := fields[timeField].(string)
	t, err := time.Parse(time.RFC3339Nano, ts)
	if err != nil {
		return nil, time.Time{}, &msg.Error{Origin: origin, Stage: msg.StageRead, Err: fmt.Errorf("%s %q is not a time", timeField, ts)}
	}
	return &msg.Record{Origin: origin, Fields: fields}, t, nil
}

// BaseURL resolves a vendor source's url: key (sandbox included) and checks
// it; example shows the user what it looks like.
func BaseURL(env interface{ URL(string) (string, error) }, raw, file, kind, example string) (*url.URL, error) {
	resolved, err := env.URL(raw)
	if err != nil {
		return nil, err
	}
	if resolved == "" {
		return nil, fmt.Errorf("%s: source.url is required for kind %s (%s)", file, kind, example)
	}
	return transport.CheckURL("source.url", resolved)
}

// SameOrigin reports whether two URLs share scheme and host: credentials
// go to the configured origin only.
func SameOrigin(a, b *url.URL) bool {
	return strings.EqualFold(a.Scheme, b.Scheme) && strings.EqualFold(a.Host, b.Host)
}

// FollowLink checks that a next-page link stays on the configured origin.
func FollowLink(vendor, link string, base *url.URL) error {
	u, err := url.Parse(link)
	if err != nil {
		return fmt.Errorf("%s: next page link %q: %w", vendor, link, err)
	}
	if !SameOrigin(u, base) {
		return fmt.Errorf("%s: the next page link points to %s, not %s: refusing to follow it with the credentials", vendor, u.Host, base.Host)
	}
	return nil
}
