package superoffice

import (
	"fmt"
	"strconv"
	"time"
)

// SuperOffice writes date-times without an offset, in the tenant's base time
// zone, unless the request's SO-TimeZone header asks for another zone; with
// "SO-TimeZone: NO, includeTZOffset" it adds the offset, written -0500
// without a colon, which a strict RFC 3339 parser rejects (SuperOfficeDocs,
// docs/en/api/netserver/web-api/headers.md, "SO-TIMEZONE" and
// "includeTZOffset"; docs/en/.../so-timezone.md). Its own sample entities
// show +02:00 with a colon and seven fraction digits
// (reference/restful/rest/TicketMessage/v1TicketMessageEntity_*.md), so both
// spellings are read.

// ParseDate reads a SuperOffice date-time: YYYY-MM-DDTHH:MM[:SS[.fraction]]
// (a space instead of the T too), then nothing, Z, ±HH:MM, ±HHMM or ±HH. A
// value without an offset is a wall time in loc — the zone the request asked
// for, or the tenant's base zone — never the machine's local time. In the hour
// a summer-time change repeats, a wall time names two instants; Go's
// time.Date picks one of them (ask for the offset to avoid it).
func ParseDate(s string, loc *time.Location) (time.Time, error) {
	bad := func(why string) (time.Time, error) {
		return time.Time{}, fmt.Errorf("%q is not a SuperOffice date-time: %s", s, why)
	}
	if loc == nil {
		return bad("no time zone to read it in")
	}
	n := len(s)
	if n < 16 {
		return bad("too short")
	}
	num := func(i, w int) (int, bool) {
		if i+w > n {
			return 0, false
		}
		v := 0
		for _, c := range s[i : i+w] {
			if c < '0' || c > '9' {
				return 0, false
			}
			v = v*10 + int(c-'0')
		}
		return v, true
	}
	year, ok1 := num(0, 4)
	month, ok2 := num(5, 2)
	day, ok3 := num(8, 2)
	hour, ok4 := num(11, 2)
	minute, ok5 := num(14, 2)
	if !(ok1 && ok2 && ok3 && ok4 && ok5) || s[4] != '-' || s[7] != '-' || (s[10] != 'T' && s[10] != ' ') || s[13] != ':' {
		return bad("want YYYY-MM-DDTHH:MM:SS")
	}
	i, sec, nsec := 16, 0, 0
	if i < n && s[i] == ':' {
		v, ok := num(i+1, 2)
		if !ok {
			return bad("bad seconds")
		}
		sec, i = v, i+3
		if i < n && s[i] == '.' {
			j := i + 1
			for j < n && s[j] >= '0' && s[j] <= '9' {
				j++
			}
			digits := s[i+1 : j]
			if digits == "" {
				return bad("a dot without a fraction")
			}
			if len(digits) > 9 {
				digits = digits[:9]
			}
			f, _ := strconv.Atoi(digits)
			for k := len(digits); k < 9; k++ {
				f *= 10
			}
			nsec, i = f, j
		}
	}
	if month < 1 || month > 12 || day < 1 || day > daysIn(month, year) || hour > 23 || minute > 59 || sec > 59 {
		return bad("out of range")
	}
	zone := loc
	switch rest := s[i:]; {
	case rest == "":
	case rest == "Z" || rest == "z":
		zone = time.UTC
	case rest[0] == '+' || rest[0] == '-':
		var oh, om int
		var ok bool
		switch len(rest) {
		case 3: // -05
			oh, ok = num(i+1, 2)
		case 5: // -0500
			oh, ok = num(i+1, 2)
			if ok {
				om, ok = num(i+3, 2)
			}
		case 6: // -05:00
			oh, ok = num(i+1, 2)
			if ok && rest[3] == ':' {
				om, ok = num(i+4, 2)
			} else {
				ok = false
			}
		}
		if !ok || oh > 23 || om > 59 {
			return bad("bad offset")
		}
		off := oh*3600 + om*60
		if rest[0] == '-' {
			off = -off
		}
		zone = time.FixedZone("", off)
	default:
		return bad("unexpected " + strconv.Quote(rest))
	}
	return time.Date(year, time.Month(month), day, hour, minute, sec, nsec, zone), nil
}

func daysIn(month, year int) int {
	return time.Date(year, time.Month(month)+1, 0, 0, 0, 0, 0, time.UTC).Day()
}

// FilterDate writes t as a $filter date literal: the wall time in loc, the
// zone the server reads a literal without an offset in (the one the request
// asked for, or the base zone), without an offset — the headers page says
// nothing of offsets in a literal, so none is sent.
func FilterDate(t time.Time, loc *time.Location) string {
	return t.In(loc).Format("2006-01-02T15:04:05")
}

// FilterFrom is the instant to write in a "createdAt after" literal for a
// reading that must start at from: from itself, or, when from's wall time
// in loc is within two hours of a change of offset (where a wall time can
// name two instants and the server may take the later one), two hours
// earlier — reading a little more is safe (the ledger skips what is
// loaded), reading less would lose messages.
func FilterFrom(from time.Time, loc *time.Location) time.Time {
	_, a := from.Add(-2 * time.Hour).In(loc).Zone()
	_, b := from.Add(2 * time.Hour).In(loc).Zone()
	if a != b {
		return from.Add(-2 * time.Hour)
	}
	return from
}
