package xlsx

import (
	"math"
	"strings"
	"time"
)

// builtinDate lists the built-in number formats that show a date or time
// (ECMA-376 §18.8.30, with the East Asian ids Excel also uses).
var builtinDate = map[int]bool{
	14: true, 15: true, 16: true, 17: true, 18: true, 19: true, 20: true, 21: true, 22: true,
	27: true, 28: true, 29: true, 30: true, 31: true, 32: true, 33: true, 34: true, 35: true, 36: true,
	45: true, 46: true, 47: true, 50: true, 51: true, 52: true, 53: true, 54: true, 55: true, 56: true, 57: true, 58: true,
}

// isDateFormat reports whether a custom number format code shows a date or a
// time: it has y, m, d, h or s outside quoted text, escapes and [brackets]
// (except elapsed-time brackets like [h]).
func isDateFormat(code string) bool {
	// Only the first section (positive numbers) decides.
	inQuote, inBracket := false, false
	var bracket strings.Builder
	for i := 0; i < len(code); i++ {
		c := code[i]
		switch {
		case inQuote:
			if c == '"' {
				inQuote = false
			}
		case inBracket:
			if c == ']' {
				inBracket = false
				b := strings.ToLower(bracket.String())
				if b == "h" || b == "hh" || b == "m" || b == "mm" || b == "s" || b == "ss" {
					return true // elapsed time
				}
				bracket.Reset()
				continue
			}
			bracket.WriteByte(c)
		case c == '"':
			inQuote = true
		case c == '[':
			inBracket = true
		case c == '\\' || c == '_' || c == '*':
			i++ // the next character is literal (or padding)
		case c == ';':
			return false
		default:
			switch c | 0x20 {
			case 'y', 'd', 'h', 's':
				return true
			case 'm':
				// "m" alone is minutes or months: either way a date/time.
				return true
			case 'e':
				// "e" is a year in some locales only when not part of "E+"
				// scientific notation.
				if i+1 < len(code) && (code[i+1] == '+' || code[i+1] == '-') {
					i++
					continue
				}
			}
		}
	}
	return false
}

var (
	epoch1900 = time.Date(1899, 12, 30, 0, 0, 0, 0, time.UTC)
	epoch1904 = time.Date(1904, 1, 1, 0, 0, 0, 0, time.UTC)
)

// serialTime converts an Excel serial date to a time. In the 1900 system
// serial 60 is the 29 February 1900 Excel invented (kept from Lotus 1-2-3):
// serials before it are one day later than their count from 1899-12-30.
func serialTime(serial float64, date1904 bool) (time.Time, bool) {
	if math.IsNaN(serial) || math.IsInf(serial, 0) || serial < 0 || serial > 2958465 { // 9999-12-31
		return time.Time{}, false
	}
	days := math.Floor(serial)
	// Round to the millisecond: serials are binary fractions of a day.
	ms := math.Round((serial - days) * 86400000)
	var base time.Time
	switch {
	case date1904:
		base = epoch1904
	case serial < 61:
		base = epoch1900.AddDate(0, 0, 1)
		if serial < 1 {
			base = epoch1900 // serial 0 is "1900-01-00"; read as 1899-12-30 + 0
			days, ms = 0, math.Round(serial*86400000)
		}
	default:
		base = epoch1900
	}
	return base.AddDate(0, 0, int(days)).Add(time.Duration(ms) * time.Millisecond), true
}
