package transform

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/ncruces/go-strftime"
)

// Layouts time() accepts for text, tried in order. Those without an offset
// are read in the job's time zone (UTC unless it names one).
var (
	offsetLayouts = []string{
		time.RFC3339Nano,
		"2006-01-02 15:04:05.999999999Z07:00",
		"2006-01-02T15:04:05.999999999Z0700",
		"2006-01-02 15:04:05.999999999Z0700",
		time.RFC1123Z,
		time.RFC1123,
	}
	naiveLayouts = []string{
		"2006-01-02T15:04:05.999999999",
		"2006-01-02 15:04:05.999999999",
		"2006-01-02T15:04",
		"2006-01-02 15:04",
		"2006-01-02",
	}
)

// unixMillisAbove: a number past this is read as unix milliseconds, below it
// as seconds. 1e11 seconds is the year 5138; 1e11 ms is March 1973.
const unixMillisAbove = 1e11

// ParseTime converts v (time.Time, text, or unix seconds/milliseconds) to a
// time. nil stays nil so that an absent source value leaves the field out.
func ParseTime(v any, loc *time.Location) (any, error) {
	t, err := parseTime(v, loc)
	if tm, ok := t.(time.Time); ok && err == nil {
		if y := tm.UTC().Year(); y < 1 || y > 9999 {
			return nil, fmt.Errorf("cannot use %v as a time: year %d is out of range", v, y)
		}
	}
	return t, err
}

func parseTime(v any, loc *time.Location) (any, error) {
	switch t := v.(type) {
	case nil:
		return nil, nil
	case time.Time:
		return t, nil
	case int64:
		return fromUnix(float64(t)), nil
	case int:
		return fromUnix(float64(t)), nil
	case float64:
		if math.IsNaN(t) || math.IsInf(t, 0) {
			return nil, fmt.Errorf("cannot use %v as a time", t)
		}
		return fromUnix(t), nil
	case string:
		return parseTimeString(t, loc)
	default:
		return nil, fmt.Errorf("cannot use %T %v as a time", v, v)
	}
}

func fromUnix(f float64) time.Time {
	if math.Abs(f) >= unixMillisAbove {
		ms := int64(f)
		return time.UnixMilli(ms).UTC()
	}
	sec, frac := math.Modf(f)
	return time.Unix(int64(sec), int64(math.Round(frac*1e9))).UTC()
}

func parseTimeString(s string, loc *time.Location) (any, error) {
	t := strings.TrimSpace(s)
	if t == "" {
		return nil, nil
	}
	if isDigits(t) {
		n, err := strconv.ParseInt(t, 10, 64)
		if err == nil {
			return fromUnix(float64(n)), nil
		}
	}
	if loc == nil {
		loc = time.UTC
	}
	// The common shapes first, without trying layouts that must fail
	// (each failed try allocates an error).
	if len(t) >= 19 && t[4] == '-' && t[7] == '-' && (t[10] == 'T' || t[10] == ' ') && t[13] == ':' {
		if hasOffset(t) {
			l := time.RFC3339Nano
			if t[10] == ' ' {
				l = "2006-01-02 15:04:05.999999999Z07:00"
			}
			if tm, err := time.Parse(l, t); err == nil {
				return tm, nil
			}
		} else {
			l := "2006-01-02T15:04:05.999999999"
			if t[10] == ' ' {
				l = "2006-01-02 15:04:05.999999999"
			}
			if tm, err := time.ParseInLocation(l, t, loc); err == nil {
				return tm, nil
			}
		}
	}
	for _, l := range offsetLayouts {
		if tm, err := time.Parse(l, t); err == nil {
			return tm, nil
		}
	}
	for _, l := range naiveLayouts {
		if tm, err := time.ParseInLocation(l, t, loc); err == nil {
			return tm, nil
		}
	}
	return nil, fmt.Errorf("cannot parse %q as a time (use RFC 3339, YYYY-MM-DD HH:MM:SS, or unix seconds/milliseconds)", s)
}

// hasOffset reports whether a date-time ends in Z or a ±hh:mm offset.
func hasOffset(t string) bool {
	if t[len(t)-1] == 'Z' || t[len(t)-1] == 'z' {
		return true
	}
	for i := len(t) - 1; i >= 19; i-- {
		if t[i] == '+' || t[i] == '-' {
			return true
		}
	}
	return false
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			if i == 0 && s[i] == '-' && len(s) > 1 {
				continue
			}
			return false
		}
	}
	return true
}

// FormatTime is how every time leaves msgmigrate: RFC 3339, UTC, milliseconds.
func FormatTime(t time.Time) string {
	return t.UTC().Format("2006-01-02T15:04:05.000Z07:00")
}

// appendTime appends FormatTime(t) to b without allocating.
func appendTime(b []byte, t time.Time) []byte {
	return t.UTC().AppendFormat(b, "2006-01-02T15:04:05.000Z07:00")
}

// ParseTimeLayout reads v with a layout the mapping gives: time(v, layout).
// A layout holding a '%' is strftime's ("%d/%m/%Y %H:%M"); any other is
// Go's, written as the reference time ("02/01/2006 15:04"). A value whose
// layout has no offset is read in loc, the job's time zone. nil and blank
// text stay nil (the field is left out); a time value is kept as it is; a
// number is read as its decimal text (20240301 with "%Y%m%d").
//
// A wall time the job's zone skips (the spring-forward gap) or has twice
// (the fall-back hour) is read as time.ParseInLocation reads it: in the gap
// with the offset before the change (02:30 in Berlin on 31 March 2024 is
// 01:30Z, shown as 03:30 CEST), in the overlap as the later, standard-time
// instant (02:30 on 27 October 2024 is 01:30Z). Go does not promise which
// of the two it picks; TestParseTimeLayout pins what it does.
func ParseTimeLayout(v any, layout string, loc *time.Location) (any, error) {
	var s string
	switch t := v.(type) {
	case nil:
		return nil, nil
	case time.Time:
		return t, nil
	case string:
		s = t
	case int64, int, float64:
		s = toString(t)
	default:
		return nil, fmt.Errorf("cannot use %T %v as a time", v, v)
	}
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, nil
	}
	if loc == nil {
		loc = time.UTC
	}
	var tm time.Time
	var err error
	if strings.ContainsRune(layout, '%') {
		tm, err = parseStrftime(layout, s, loc)
	} else {
		tm, err = parseGoLayout(layout, s, loc)
	}
	if err != nil {
		return nil, err
	}
	if y := tm.UTC().Year(); y < 1 || y > 9999 {
		return nil, fmt.Errorf("cannot use %q as a time: year %d is out of range (layout %q)", s, y, layout)
	}
	return tm, nil
}

func parseGoLayout(layout, s string, loc *time.Location) (time.Time, error) {
	tm, err := time.ParseInLocation(layout, s, loc)
	if err != nil {
		if err := CheckTimeLayout(layout); err != nil {
			return time.Time{}, err
		}
		return time.Time{}, layoutMismatch(s, layout, err)
	}
	// Go reads a zone abbreviation it cannot find in loc as UTC under that
	// name (time.Parse's documentation): never guess an hour.
	if name, off := tm.Zone(); tm.Location() != loc && off == 0 && name != "" && name != "UTC" && name != "GMT" {
		return time.Time{}, fmt.Errorf("cannot parse %q with layout %q: the zone abbreviation %q is not one of %s's: write the offset (-0700 in the layout), or leave it out and set timezone:", s, layout, name, loc)
	}
	return tm, nil
}

func parseStrftime(layout, s string, loc *time.Location) (time.Time, error) {
	offset, err := strftimeOffset(layout)
	if err != nil {
		return time.Time{}, err
	}
	tm, err := strftime.Parse(layout, s)
	if err != nil {
		var pe *time.ParseError
		if !errors.As(err, &pe) {
			return time.Time{}, fmt.Errorf("bad time layout %q: %w", layout, err)
		}
		return time.Time{}, layoutMismatch(s, layout, err)
	}
	if !offset {
		// strftime.Parse reads in UTC; a layout without %z means the wall
		// clock of the job's zone. time.Date is what time.ParseInLocation
		// does for such a value, DST gaps and overlaps alike.
		tm = time.Date(tm.Year(), tm.Month(), tm.Day(), tm.Hour(), tm.Minute(), tm.Second(), tm.Nanosecond(), loc)
	}
	return tm, nil
}

// strftimeOffset reports whether a strftime layout reads an offset (%z,
// %:z); it refuses %Z and %+, whose zone abbreviations Go reads as UTC when
// it does not know them.
func strftimeOffset(layout string) (bool, error) {
	offset := false
	for i := 0; i < len(layout); i++ {
		if layout[i] != '%' {
			continue
		}
		j := i + 1
		for j < len(layout) && strings.IndexByte("-:EO", layout[j]) >= 0 {
			j++
		}
		if j >= len(layout) {
			break
		}
		switch layout[j] {
		case 'z':
			offset = true
		case 'Z', '+':
			return false, fmt.Errorf("bad time layout %q: %%%c reads a zone abbreviation (CST is three different zones): use %%z for an offset, or leave the zone out and set the job's timezone:", layout, layout[j])
		}
		i = j
	}
	return offset, nil
}

// CheckTimeLayout reports a layout that cannot read any time: an unknown
// strftime directive, %Z, or a Go layout with no element of the reference
// time (a Java-style "dd/MM/yyyy", say). It is run at compile time on every
// literal layout.
func CheckTimeLayout(layout string) error {
	if strings.ContainsRune(layout, '%') {
		if _, err := strftimeOffset(layout); err != nil {
			return err
		}
		_, err := strftime.Parse(layout, "")
		var pe *time.ParseError
		if err != nil && !errors.As(err, &pe) {
			return fmt.Errorf("bad time layout %q: %w", layout, err)
		}
		return nil
	}
	// A layout formats any other time to itself only when it has no
	// element at all.
	other := time.Date(1999, 11, 23, 9, 8, 7, 123456789, time.FixedZone("XYZ", 3*3600))
	if other.Format(layout) == layout {
		return fmt.Errorf("bad time layout %q: it has no element of Go's reference time (write 02/01/2006 15:04 or strftime's %%d/%%m/%%Y %%H:%%M)", layout)
	}
	return nil
}

// layoutMismatch says which part of the value did not fit the layout,
// without Go's internal layout (a strftime user never wrote it).
func layoutMismatch(s, layout string, err error) error {
	var pe *time.ParseError
	if errors.As(err, &pe) {
		if msg := strings.TrimPrefix(pe.Message, ": "); msg != "" {
			return fmt.Errorf("cannot parse %q with layout %q: %s", s, layout, msg)
		}
		if pe.ValueElem != "" {
			return fmt.Errorf("cannot parse %q with layout %q (at %q)", s, layout, pe.ValueElem)
		}
	}
	return fmt.Errorf("cannot parse %q with layout %q", s, layout)
}
