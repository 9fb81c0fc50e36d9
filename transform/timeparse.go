package transform

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
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
