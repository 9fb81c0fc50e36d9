// Package progress renders a run's progress: one line on a terminal, redrawn
// in place and fitted to its width, and the same fields as log attributes
// where there is no terminal. What is shown is computed from a Snapshot of
// the run's counters by pure functions, so it can be tested without a run.
//
// It follows what rclone's and pv's displays are trusted for: it counts what
// is finished, against what is expected only when that is known (or says
// "~" when it is estimated), the rate is the current one, and a pause or an
// outage is shown while it lasts.
package progress

import (
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Snapshot is the state of a run at one moment.
type Snapshot struct {
	Elapsed time.Duration

	// Read is the records read so far; ReadShare how far the source is, in
	// its own units (bytes of a file, records of a listing), 0..1, or < 0
	// when it does not say; ReadEnded that the reading is over.
	Read      int64
	ReadShare float64
	ReadEnded bool

	// Done is the records finished: loaded, skipped, failed (and, under a
	// shard, those of other shards; in a dry run, those that would be sent).
	Done                    int64
	Loaded, Skipped, Failed int64
	OtherShards, WouldSend  int64

	// Expected is the records the run will finish in all, 0 when unknown;
	// Estimated says it is an estimate, not a count.
	Expected  int64
	Estimated bool

	// Rate is the records finished per second lately (see Window); ETA the
	// time left, shown only when HasETA.
	Rate   float64
	ETA    time.Duration
	HasETA bool

	InFlight  int64         // requests waiting for their answer
	Retries   int64         // attempts after a failed one
	Throttled int64         // 429s
	Paused    time.Duration // what is left of a 429's pause, every worker waiting
	Outage    bool          // every request failed: one probes, the others wait

	// Final: the run has ended and this is its last line. It must agree
	// with the report printed after it.
	Final bool
}

// Unsent is what was read and not finished: at the end of a run, the records
// the next run will send.
func (s Snapshot) Unsent() int64 { return max(0, s.Read-s.Done) }

// Percent is the share of the expected records finished, 0..100, or -1 when
// nothing is expected yet.
func (s Snapshot) Percent() int {
	if s.Expected <= 0 {
		return -1
	}
	return int(min(100, s.Done*100/s.Expected))
}

// field is one part of the line. Fields are laid out in the order given and
// kept by rank (1 first) while they fit the width.
type field struct {
	text string
	rank int
	join string // what goes before it: " · " or " "
	alt  string // a shorter text, for a line too narrow for text
}

const sep = " · "

// Line renders s in at most width-1 columns (the last column is left empty:
// writing into it makes some terminals wrap). Less important fields are left
// out first; the line is never wrapped. Every character is one column wide.
func Line(s Snapshot, width int) string {
	var fs []field
	if s.Final {
		fs = finalFields(s)
	} else {
		fs = liveFields(s)
	}
	return fit(fs, width-1)
}

func liveFields(s Snapshot) []field {
	var fs []field
	pct := s.Percent()
	if pct >= 0 {
		fs = append(fs, field{text: bar(pct, 20), rank: 13, join: " "})
		fs = append(fs, field{text: approx(s.Estimated) + strconv.Itoa(pct) + "%", rank: 2, join: " "})
		fs = append(fs, field{text: fmt.Sprintf("%d/%s%d", s.Done, approx(s.Estimated), s.Expected), rank: 1, join: " ", alt: strconv.FormatInt(s.Done, 10)})
	} else {
		fs = append(fs, field{text: fmt.Sprintf("%d done", s.Done), rank: 1, join: " ", alt: strconv.FormatInt(s.Done, 10)})
	}
	fs = append(fs, field{text: fmt.Sprintf("%.0f rec/s", s.Rate), rank: 3, join: sep})
	switch {
	case s.Outage:
		fs = append(fs, field{text: "OUTAGE: waiting for the service", rank: 4, join: sep})
	case s.Paused > 0:
		// Rounded up: a pause that has 300 ms left is not "0s".
		fs = append(fs, field{text: "429: paused " + Duration((s.Paused + time.Second - 1).Truncate(time.Second)), rank: 4, join: sep})
	}
	if s.HasETA {
		fs = append(fs, field{text: "ETA " + Duration(s.ETA), rank: 5, join: sep})
	}
	fs = append(fs, field{text: fmt.Sprintf("failed %d", s.Failed), rank: 6, join: sep})
	fs = append(fs, field{text: fmt.Sprintf("skipped %d", s.Skipped), rank: 8, join: sep})
	fs = append(fs, field{text: fmt.Sprintf("in flight %d", s.InFlight), rank: 7, join: sep})
	fs = append(fs, field{text: readText(s), rank: 9, join: sep})
	if s.Retries > 0 {
		fs = append(fs, field{text: fmt.Sprintf("retries %d", s.Retries), rank: 10, join: sep})
	}
	if s.Throttled > 0 {
		fs = append(fs, field{text: fmt.Sprintf("429s %d", s.Throttled), rank: 11, join: sep})
	}
	fs = append(fs, field{text: Duration(s.Elapsed), rank: 12, join: sep})
	return fs
}

// finalFields are the counts the report gives, and nothing that could
// disagree with it (a rate, a duration measured a moment apart).
func finalFields(s Snapshot) []field {
	var fs []field
	if pct := s.Percent(); pct >= 0 {
		fs = append(fs, field{text: strconv.Itoa(pct) + "%", rank: 2, join: " "})
		fs = append(fs, field{text: fmt.Sprintf("%d/%s%d", s.Done, approx(s.Estimated), s.Expected), rank: 1, join: " ", alt: strconv.FormatInt(s.Done, 10)})
	} else {
		fs = append(fs, field{text: fmt.Sprintf("%d done", s.Done), rank: 1, join: " ", alt: strconv.FormatInt(s.Done, 10)})
	}
	fs = append(fs, field{text: fmt.Sprintf("loaded %d", s.Loaded), rank: 4, join: sep})
	fs = append(fs, field{text: fmt.Sprintf("skipped %d", s.Skipped), rank: 5, join: sep})
	fs = append(fs, field{text: fmt.Sprintf("failed %d", s.Failed), rank: 3, join: sep})
	if n := s.Unsent(); n > 0 {
		fs = append(fs, field{text: fmt.Sprintf("unsent %d", n), rank: 3, join: sep})
	}
	// As the summary says them, so that the counts add up on screen.
	if s.OtherShards > 0 {
		fs = append(fs, field{text: fmt.Sprintf("%d for other shards", s.OtherShards), rank: 4, join: sep})
	}
	if s.WouldSend > 0 {
		fs = append(fs, field{text: fmt.Sprintf("would send %d", s.WouldSend), rank: 4, join: sep})
	}
	if s.Retries > 0 {
		fs = append(fs, field{text: fmt.Sprintf("retries %d", s.Retries), rank: 6, join: sep})
	}
	if s.Throttled > 0 {
		fs = append(fs, field{text: fmt.Sprintf("429s %d", s.Throttled), rank: 7, join: sep})
	}
	return fs
}

func readText(s Snapshot) string {
	switch {
	case s.ReadEnded:
		return fmt.Sprintf("read all %d", s.Read)
	case s.ReadShare >= 0:
		return fmt.Sprintf("read %d (%d%%)", s.Read, int(min(1, s.ReadShare)*100))
	}
	return fmt.Sprintf("read %d", s.Read)
}

func approx(estimated bool) string {
	if estimated {
		return "~"
	}
	return ""
}

// bar draws pct as a bar of n columns between brackets.
func bar(pct, n int) string {
	fill := pct * n / 100
	b := make([]byte, 0, n+2)
	b = append(b, '[')
	for i := range n {
		switch {
		case i < fill:
			b = append(b, '=')
		case i == fill && pct < 100:
			b = append(b, '>')
		default:
			b = append(b, ' ')
		}
	}
	return string(append(b, ']'))
}

// fit keeps fields by rank while they fit in width columns, laid out in
// their order. It stops at the first that does not fit, rather than slip a
// shorter, less important one in: the line keeps its shape as counts grow.
// When not even the first fits, its short text is shown, or nothing: a
// number cut short would be read as another number.
func fit(fs []field, width int) string {
	ranks := make([]int, len(fs))
	for i := range fs {
		ranks[i] = i
	}
	slices.SortStableFunc(ranks, func(a, b int) int { return fs[a].rank - fs[b].rank })
	keep := make([]bool, len(fs))
	for n, i := range ranks {
		keep[i] = true
		if utf8.RuneCountInString(join(fs, keep)) <= width {
			continue
		}
		keep[i] = false
		if n == 0 && utf8.RuneCountInString(fs[i].alt) <= width {
			return fs[i].alt
		}
		break
	}
	return join(fs, keep)
}

func join(fs []field, keep []bool) string {
	var b strings.Builder
	for i, f := range fs {
		if !keep[i] {
			continue
		}
		if b.Len() > 0 {
			b.WriteString(f.join)
		}
		b.WriteString(f.text)
	}
	return b.String()
}

// Duration is d the way a person reads a time left: 45s, 2m52s, 1h04m.
func Duration(d time.Duration) string {
	d = d.Round(time.Second)
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm%02ds", int(d.Minutes()), int(d.Seconds())%60)
	case d < 100*time.Hour:
		return fmt.Sprintf("%dh%02dm", int(d.Hours()), int(d.Minutes())%60)
	}
	return ">99h"
}

// Attrs are s's fields for a log line, the same as the terminal shows.
func Attrs(s Snapshot) []any {
	progress := "unknown"
	if pct := s.Percent(); pct >= 0 {
		progress = approx(s.Estimated) + strconv.Itoa(pct) + "%"
	}
	a := []any{slog.String("progress", progress), slog.Int64("done", s.Done)}
	if s.Expected > 0 {
		a = append(a, slog.Int64("expected", s.Expected))
		if s.Estimated {
			a = append(a, slog.Bool("estimated", true))
		}
	}
	eta := "unknown"
	if s.HasETA {
		eta = Duration(s.ETA)
	}
	reading := "ongoing"
	if s.ReadEnded {
		reading = "ended"
	}
	a = append(a,
		slog.Int64("rate", int64(s.Rate+0.5)),
		slog.Int64("in_flight", s.InFlight),
		slog.Int64("throttled", s.Throttled),
		slog.Int64("retries", s.Retries),
		slog.Int64("failed", s.Failed),
		slog.Int64("skipped", s.Skipped),
		slog.Int64("loaded", s.Loaded),
		slog.Int64("read", s.Read),
		slog.String("reading", reading),
		slog.String("eta", eta),
	)
	if s.Paused > 0 {
		a = append(a, slog.String("paused", Duration(s.Paused)))
	}
	if s.Outage {
		a = append(a, slog.Bool("outage", true))
	}
	return a
}
