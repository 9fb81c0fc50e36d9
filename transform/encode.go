package transform

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/msgmigrate/msgmigrate/schema"
)

// coerce converts an expression's value to what the target field holds.
// nil means "leave the field out".
func coerce(f *schema.Field, v any, loc *time.Location) (any, error) {
	if v == nil {
		return nil, nil
	}
	switch f.Type {
	case schema.String:
		var s string
		switch t := v.(type) {
		case string:
			s = t
		case int64, int, float64, bool, time.Time:
			s = toString(t)
		default:
			return nil, fmt.Errorf("want text, got %s", describe(v))
		}
		if len(f.Enum) > 0 && !slices.Contains(f.Enum, s) {
			return nil, fmt.Errorf("%q is not one of %v", s, f.Enum)
		}
		if f.MaxLen > 0 && utf8.RuneCountInString(s) > f.MaxLen {
			return nil, fmt.Errorf("%d characters, at most %d allowed", utf8.RuneCountInString(s), f.MaxLen)
		}
		return s, nil
	case schema.Bool:
		switch t := v.(type) {
		case bool:
			return t, nil
		case string:
			b, err := strconv.ParseBool(t)
			if err != nil {
				return nil, fmt.Errorf("want true or false, got %q", t)
			}
			return b, nil
		case int64:
			if t == 0 || t == 1 {
				return t == 1, nil
			}
		}
		return nil, fmt.Errorf("want true or false, got %s", describe(v))
	case schema.Int:
		switch t := v.(type) {
		case int64:
			return t, nil
		case int:
			return int64(t), nil
		case float64:
			if t == math.Trunc(t) && math.Abs(t) < 1<<53 {
				return int64(t), nil
			}
		case string:
			if n, err := strconv.ParseInt(t, 10, 64); err == nil {
				return n, nil
			}
		}
		return nil, fmt.Errorf("want a whole number, got %s", describe(v))
	case schema.Time:
		return ParseTime(v, loc)
	case schema.Object:
		if _, ok := v.(map[string]any); !ok {
			return nil, fmt.Errorf("want an object, got %s", describe(v))
		}
		return v, nil
	case schema.StringList:
		list, ok := v.([]any)
		if !ok {
			if ss, ok := v.([]string); ok {
				if len(ss) == 0 {
					return nil, nil
				}
				return ss, nil
			}
			return nil, fmt.Errorf("want a list of text, got %s", describe(v))
		}
		if len(list) == 0 {
			return nil, nil // an empty list is left out, like nil
		}
		out := make([]string, 0, len(list))
		for i, e := range list {
			s, ok := e.(string)
			if !ok {
				return nil, fmt.Errorf("[%d]: want text, got %s", i, describe(e))
			}
			out = append(out, s)
		}
		return out, nil
	case schema.ObjectList:
		list, ok := v.([]any)
		if !ok {
			return nil, fmt.Errorf("want a list of objects, got %s", describe(v))
		}
		if len(list) == 0 {
			return nil, nil // an empty list is left out, like nil
		}
		for i, e := range list {
			m, ok := e.(map[string]any)
			if !ok {
				return nil, fmt.Errorf("[%d]: want an object, got %s", i, describe(e))
			}
			if err := checkItem(f.Items, m); err != nil {
				return nil, fmt.Errorf("[%d]: %w", i, err)
			}
		}
		return list, nil
	}
	return nil, fmt.Errorf("unsupported target type %v", f.Type)
}

// checkItem checks one object of an ObjectList against its declared fields.
func checkItem(items []schema.Field, m map[string]any) error {
	if len(items) == 0 {
		return nil // free-form objects
	}
	for k := range m {
		if !slices.ContainsFunc(items, func(f schema.Field) bool { return f.Path == k }) {
			names := make([]string, len(items))
			for i, f := range items {
				names[i] = f.Path
			}
			return fmt.Errorf("unknown field %q (known: %v)", k, names)
		}
	}
	for _, f := range items {
		v, ok := m[f.Path]
		if f.Required && (!ok || v == nil || v == "") {
			return fmt.Errorf("%s is required", f.Path)
		}
	}
	return nil
}

func describe(v any) string {
	switch t := v.(type) {
	case string:
		return fmt.Sprintf("text %q", t)
	case bool:
		return fmt.Sprintf("boolean %v", t)
	case int64, int, float64:
		return fmt.Sprintf("number %v", t)
	case []any:
		return "a list"
	case map[string]any:
		return "an object"
	case time.Time:
		return "a time"
	default:
		return fmt.Sprintf("%T", v)
	}
}

// appendValue appends v (a coerced value) as JSON. For ObjectList fields with
// declared items, keys go in the declared order.
func appendValue(b []byte, f *schema.Field, v any) ([]byte, error) {
	if t, ok := v.(time.Time); ok && f != nil && f.TimeLayout != "" {
		b = append(b, '"')
		b = t.UTC().AppendFormat(b, f.TimeLayout)
		return append(b, '"'), nil
	}
	if f != nil && f.Type == schema.ObjectList && len(f.Items) > 0 {
		b = append(b, '[')
		for i, e := range v.([]any) {
			if i > 0 {
				b = append(b, ',')
			}
			m := e.(map[string]any)
			b = append(b, '{')
			n := 0
			for _, it := range f.Items {
				ev, ok := m[it.Path]
				if !ok || ev == nil {
					continue
				}
				if n > 0 {
					b = append(b, ',')
				}
				n++
				b = appendString(b, it.Path)
				b = append(b, ':')
				b = appendString(b, toString(ev))
			}
			b = append(b, '}')
		}
		return append(b, ']'), nil
	}
	return appendAny(b, v)
}

// appendAny appends any plain value as JSON, object keys sorted.
func appendAny(b []byte, v any) ([]byte, error) {
	switch t := v.(type) {
	case nil:
		return append(b, "null"...), nil
	case string:
		return appendString(b, t), nil
	case bool:
		return strconv.AppendBool(b, t), nil
	case int64:
		return strconv.AppendInt(b, t, 10), nil
	case int:
		return strconv.AppendInt(b, int64(t), 10), nil
	case float64:
		if math.IsNaN(t) || math.IsInf(t, 0) {
			return b, fmt.Errorf("%v cannot be sent as JSON", t)
		}
		return strconv.AppendFloat(b, t, 'g', -1, 64), nil
	case time.Time:
		b = append(b, '"')
		b = appendTime(b, t)
		return append(b, '"'), nil
	case []string:
		b = append(b, '[')
		for i, s := range t {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendString(b, s)
		}
		return append(b, ']'), nil
	case []any:
		b = append(b, '[')
		for i, e := range t {
			if i > 0 {
				b = append(b, ',')
			}
			var err error
			if b, err = appendAny(b, e); err != nil {
				return b, err
			}
		}
		return append(b, ']'), nil
	case map[string]any:
		keys := make([]string, 0, len(t))
		for k := range t {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		b = append(b, '{')
		for i, k := range keys {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendString(b, k)
			b = append(b, ':')
			var err error
			if b, err = appendAny(b, t[k]); err != nil {
				return b, err
			}
		}
		return append(b, '}'), nil
	}
	return b, fmt.Errorf("cannot send %T as JSON", v)
}

const hexDigits = "0123456789abcdef"

// appendString appends s as a JSON string. Every byte of valid UTF-8 is kept
// as is (no HTML escaping); control characters are escaped; invalid UTF-8
// becomes U+FFFD, as encoding/json does, since JSON cannot carry it.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i++
			start = i
			continue
		}
		// U+2028 and U+2029 are valid JSON but break JavaScript consumers.
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
