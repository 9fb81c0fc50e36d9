package parquet

import (
	"fmt"
	"math"
	"math/big"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	pq "github.com/xitongsys/parquet-go/parquet"
	"github.com/xitongsys/parquet-go/types"
)

// node is one field of the file's schema, with the levels the Dremel
// encoding gives it.
type node struct {
	name     string // as written in the file: no renaming
	path     string // dotted, for messages
	elem     *pq.SchemaElement
	children []*node
	dl       int32 // definition level once this node is defined
	rl       int32 // repeated nodes from the root to this one, itself included
	repeated bool
	leaves   []int                  // top-level fields: the leaf columns below
	leaf     int                    // leaf column index, -1 for groups
	conv     func(any) (any, error) // leaf value → record value
	kind     kind
	// For lists and maps: the repeated node whose entries are the elements,
	// and the element (the repeated node, or its single child).
	rep  *node
	item *node
}

type kind int

const (
	kPrimitive kind = iota
	kStruct
	kList
	kMap
)

// buildTree turns the flat, depth-first schema list into a tree.
func buildTree(elems []*pq.SchemaElement, names []string) (*node, []*node, error) {
	pos := 0
	var leaves []*node
	var walk func(parent *node, dl int32, repAbove int) (*node, error)
	walk = func(parent *node, dl int32, repAbove int) (*node, error) {
		if pos >= len(elems) {
			return nil, fmt.Errorf("schema ends early")
		}
		e := elems[pos]
		n := &node{name: names[pos], elem: e, leaf: -1}
		pos++
		if parent != nil {
			n.path = strings.TrimPrefix(parent.path+"."+n.name, ".")
			switch e.GetRepetitionType() {
			case pq.FieldRepetitionType_OPTIONAL:
				dl++
			case pq.FieldRepetitionType_REPEATED:
				dl++
				n.repeated = true
				repAbove++
			}
		}
		n.dl, n.rl = dl, int32(repAbove)
		if e.GetNumChildren() == 0 && parent != nil {
			if repAbove > 1 {
				return nil, fmt.Errorf("column %s: lists inside lists are not supported", n.path)
			}
			conv, err := converter(e)
			if err != nil {
				return nil, fmt.Errorf("column %s: %w", n.path, err)
			}
			n.conv, n.leaf = conv, len(leaves)
			leaves = append(leaves, n)
			return n, nil
		}
		for range e.GetNumChildren() {
			c, err := walk(n, dl, repAbove)
			if err != nil {
				return nil, err
			}
			n.children = append(n.children, c)
		}
		return n, nil
	}
	root, err := walk(nil, 0, 0)
	if err != nil {
		return nil, nil, err
	}
	if pos != len(elems) {
		return nil, nil, fmt.Errorf("schema has %d elements past its root's children", len(elems)-pos)
	}
	for _, c := range root.children {
		classify(c)
		c.leaves = leafIndexes(c, nil)
	}
	return root, leaves, nil
}

// classify decides how a node's values are assembled, following the
// Parquet spec's rules for LIST and MAP, including the older two-level lists
// that other writers still produce.
func classify(n *node) {
	for _, c := range n.children {
		classify(c)
	}
	e := n.elem
	isList := e.GetConvertedType() == pq.ConvertedType_LIST || (e.LogicalType != nil && e.LogicalType.LIST != nil)
	isMap := e.GetConvertedType() == pq.ConvertedType_MAP || e.GetConvertedType() == pq.ConvertedType_MAP_KEY_VALUE ||
		(e.LogicalType != nil && e.LogicalType.MAP != nil)
	switch {
	case n.leaf >= 0 && n.repeated:
		// A repeated primitive outside a LIST group: a list of its values.
		n.kind, n.rep, n.item = kList, n, &node{name: n.name, path: n.path, elem: n.elem, dl: n.dl, leaf: n.leaf, conv: n.conv}
	case n.leaf >= 0:
		n.kind = kPrimitive
	case isMap && len(n.children) == 1 && n.children[0].repeated && len(n.children[0].children) == 2:
		n.kind, n.rep = kMap, n.children[0]
	case isList && len(n.children) == 1 && n.children[0].repeated:
		r := n.children[0]
		n.kind, n.rep = kList, r
		switch {
		case r.leaf >= 0:
			n.item = &node{name: r.name, path: r.path, elem: r.elem, dl: r.dl, leaf: r.leaf, conv: r.conv}
		case len(r.children) == 1 && r.name != "array" && !strings.HasSuffix(r.name, "_tuple"):
			n.item = r.children[0]
		default:
			n.item = &node{name: r.name, path: r.path, elem: r.elem, dl: r.dl, leaf: -1, kind: kStruct, children: r.children}
		}
	case n.repeated:
		// An unannotated repeated group: a list of structs.
		n.kind, n.rep = kList, n
		n.item = &node{name: n.name, path: n.path, elem: n.elem, dl: n.dl, leaf: -1, kind: kStruct, children: n.children}
	default:
		n.kind = kStruct
	}
}

func leafIndexes(n *node, out []int) []int {
	if n.leaf >= 0 {
		return append(out, n.leaf)
	}
	for _, c := range n.children {
		out = leafIndexes(c, out)
	}
	return out
}

// firstLeaf is any leaf below n: all of them agree on whether n is defined.
func (n *node) firstLeaf() *node {
	for n.leaf < 0 {
		if len(n.children) == 0 {
			return nil
		}
		n = n.children[0]
	}
	return n
}

// converter returns how a leaf's stored values become record values.
func converter(e *pq.SchemaElement) (func(any) (any, error), error) {
	lt := e.LogicalType
	ct := e.GetConvertedType()
	hasCT := e.ConvertedType != nil
	scale := int(e.GetScale())
	if lt != nil && lt.DECIMAL != nil {
		scale = int(lt.DECIMAL.Scale)
	}
	isDecimal := (hasCT && ct == pq.ConvertedType_DECIMAL) || (lt != nil && lt.DECIMAL != nil)
	switch e.GetType() {
	case pq.Type_BOOLEAN:
		return func(v any) (any, error) { return v.(bool), nil }, nil
	case pq.Type_INT32:
		switch {
		case isDecimal:
			return func(v any) (any, error) { return decimal(big.NewInt(int64(v.(int32))), scale), nil }, nil
		case (hasCT && ct == pq.ConvertedType_DATE) || (lt != nil && lt.DATE != nil):
			return func(v any) (any, error) {
				return time.Unix(int64(v.(int32))*86400, 0).UTC(), nil
			}, nil
		case (hasCT && ct == pq.ConvertedType_UINT_32) || (lt != nil && lt.INTEGER != nil && !lt.INTEGER.IsSigned):
			return func(v any) (any, error) { return int64(uint32(v.(int32))), nil }, nil
		}
		return func(v any) (any, error) { return int64(v.(int32)), nil }, nil
	case pq.Type_INT64:
		unit := time.Duration(0)
		switch {
		case hasCT && ct == pq.ConvertedType_TIMESTAMP_MILLIS:
			unit = time.Millisecond
		case hasCT && ct == pq.ConvertedType_TIMESTAMP_MICROS:
			unit = time.Microsecond
		case lt != nil && lt.TIMESTAMP != nil:
			switch {
			case lt.TIMESTAMP.Unit.IsSetMILLIS():
				unit = time.Millisecond
			case lt.TIMESTAMP.Unit.IsSetMICROS():
				unit = time.Microsecond
			default:
				unit = time.Nanosecond
			}
		}
		switch {
		case unit > 0:
			// Timestamps not "adjusted to UTC" are wall-clock times with no
			// zone; they are read as UTC, the zone-less convention.
			return func(v any) (any, error) {
				n := v.(int64)
				switch unit {
				case time.Millisecond:
					return time.UnixMilli(n).UTC(), nil
				case time.Microsecond:
					return time.UnixMicro(n).UTC(), nil
				}
				return time.Unix(0, n).UTC(), nil
			}, nil
		case isDecimal:
			return func(v any) (any, error) { return decimal(big.NewInt(v.(int64)), scale), nil }, nil
		case (hasCT && ct == pq.ConvertedType_UINT_64) || (lt != nil && lt.INTEGER != nil && !lt.INTEGER.IsSigned):
			return func(v any) (any, error) {
				u := uint64(v.(int64))
				if u > math.MaxInt64 {
					return float64(u), nil
				}
				return int64(u), nil
			}, nil
		}
		return func(v any) (any, error) { return v.(int64), nil }, nil
	case pq.Type_INT96:
		return func(v any) (any, error) {
			s := v.(string)
			if len(s) != 12 {
				return nil, fmt.Errorf("INT96 value of %d bytes", len(s))
			}
			return types.INT96ToTime(s).UTC(), nil
		}, nil
	case pq.Type_FLOAT:
		return func(v any) (any, error) { return float64(v.(float32)), nil }, nil
	case pq.Type_DOUBLE:
		return func(v any) (any, error) { return v.(float64), nil }, nil
	case pq.Type_BYTE_ARRAY, pq.Type_FIXED_LEN_BYTE_ARRAY:
		switch {
		case isDecimal:
			return func(v any) (any, error) { return decimal(signedBigEndian([]byte(v.(string))), scale), nil }, nil
		case lt != nil && lt.UUID != nil:
			return func(v any) (any, error) {
				u, err := uuid.FromBytes([]byte(v.(string)))
				if err != nil {
					return nil, err
				}
				return u.String(), nil
			}, nil
		}
		text := (hasCT && (ct == pq.ConvertedType_UTF8 || ct == pq.ConvertedType_ENUM || ct == pq.ConvertedType_JSON)) ||
			(lt != nil && (lt.STRING != nil || lt.ENUM != nil || lt.JSON != nil))
		return func(v any) (any, error) {
			s := v.(string)
			if text {
				if !utf8.ValidString(s) {
					return nil, fmt.Errorf("text that is not valid UTF-8")
				}
				return s, nil
			}
			// Bytes with no annotation: text when they are valid UTF-8.
			if utf8.ValidString(s) {
				return s, nil
			}
			return []byte(s), nil
		}, nil
	}
	return nil, fmt.Errorf("unsupported physical type %v", e.GetType())
}

// decimal turns an unscaled integer into a number: exact when it fits in an
// int64 with no fraction, else a float64 (money columns with 2–4 decimals
// keep every digit up to 15 significant ones).
func decimal(unscaled *big.Int, scale int) any {
	if scale == 0 && unscaled.IsInt64() {
		return unscaled.Int64()
	}
	f, _ := new(big.Float).SetInt(unscaled).Float64()
	return f / math.Pow10(scale)
}

// signedBigEndian reads a two's-complement big-endian integer.
func signedBigEndian(b []byte) *big.Int {
	n := new(big.Int).SetBytes(b)
	if len(b) > 0 && b[0]&0x80 != 0 {
		n.Sub(n, new(big.Int).Lsh(big.NewInt(1), uint(len(b)*8)))
	}
	return n
}
