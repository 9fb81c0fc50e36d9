package msg

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"math"
	"time"
)

// EncodeFields packs a record's fields into a compact binary form, cheap to
// write for every record; DecodeFields reads it back for the few that fail.
// Field order is the map's, so it is not canonical: use it to carry a
// record, never to compare two.
func EncodeFields(b []byte, fields map[string]any) []byte {
	b = binary.AppendUvarint(b, uint64(len(fields)))
	for k, v := range fields {
		b = appendStr(b, k)
		b = appendValue(b, v)
	}
	return b
}

const (
	tNil byte = iota
	tString
	tInt
	tFloat
	tTrue
	tFalse
	tTime
	tJSON // anything else, as JSON
)

func appendStr(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func appendValue(b []byte, v any) []byte {
	switch t := v.(type) {
	case nil:
		return append(b, tNil)
	case string:
		return appendStr(append(b, tString), t)
	case int64:
		return binary.AppendVarint(append(b, tInt), t)
	case float64:
		return binary.LittleEndian.AppendUint64(append(b, tFloat), math.Float64bits(t))
	case bool:
		if t {
			return append(b, tTrue)
		}
		return append(b, tFalse)
	case time.Time:
		return appendStr(append(b, tTime), t.Format(time.RFC3339Nano))
	default:
		j, err := json.Marshal(v)
		if err != nil {
			j = []byte(`null`)
		}
		return appendStr(append(b, tJSON), string(j))
	}
}

var errCorrupt = errors.New("msg: corrupt encoded record")

// DecodeFields reverses EncodeFields.
func DecodeFields(b []byte) (map[string]any, error) {
	n, k := binary.Uvarint(b)
	if k <= 0 {
		return nil, errCorrupt
	}
	b = b[k:]
	out := make(map[string]any, min(n, uint64(len(b))))
	str := func() (string, bool) {
		l, k := binary.Uvarint(b)
		if k <= 0 || uint64(len(b)-k) < l {
			return "", false
		}
		s := string(b[k : k+int(l)])
		b = b[k+int(l):]
		return s, true
	}
	for range n {
		key, ok := str()
		if !ok || len(b) == 0 {
			return nil, errCorrupt
		}
		tag := b[0]
		b = b[1:]
		switch tag {
		case tNil:
			out[key] = nil
		case tString:
			s, ok := str()
			if !ok {
				return nil, errCorrupt
			}
			out[key] = s
		case tInt:
			v, k := binary.Varint(b)
			if k <= 0 {
				return nil, errCorrupt
			}
			b = b[k:]
			out[key] = v
		case tFloat:
			if len(b) < 8 {
				return nil, errCorrupt
			}
			out[key] = math.Float64frombits(binary.LittleEndian.Uint64(b))
			b = b[8:]
		case tTrue, tFalse:
			out[key] = tag == tTrue
		case tTime:
			s, ok := str()
			if !ok {
				return nil, errCorrupt
			}
			t, err := time.Parse(time.RFC3339Nano, s)
			if err != nil {
				return nil, errCorrupt
			}
			out[key] = t
		case tJSON:
			s, ok := str()
			if !ok {
				return nil, errCorrupt
			}
			var v any
			if err := json.Unmarshal([]byte(s), &v); err != nil {
				return nil, errCorrupt
			}
			out[key] = v
		default:
			return nil, errCorrupt
		}
	}
	return out, nil
}
