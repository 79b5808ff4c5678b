package redisstore

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"strconv"

	"go.starlark.net/starlark"
)

// The value encoding. A top-level int is its plain decimal text, so that
// Redis's INCRBY works on it; every other value is a tag byte (never a
// digit or '-') followed by its payload:
//
//	N                 None
//	T, F              True, False
//	i varint          an int inside a list or dict
//	f 8 bytes         a float: its IEEE 754 bits, big-endian (exact: -0, NaN)
//	s uvarint bytes   a str: its length and bytes (any bytes, UTF-8 or not)
//	b uvarint bytes   a bytes
//	l uvarint values  a list: its length and elements
//	d uvarint pairs   a dict: its length and, in insertion order, each
//	                  key (uvarint length and bytes) and value
//
// Decoding an encoding gives back a value equal to the encoded one, of the
// same type, with dicts in the same order; encoding it again gives the
// same bytes. Equal encodings mean equal values, but not the reverse: 1
// and 1.0, 0.0 and -0.0, and dicts in different orders are == in
// Starlark and differ here (CompareAndSet compares encodings).
const (
	tagNone  = 'N'
	tagTrue  = 'T'
	tagFalse = 'F'
	tagInt   = 'i'
	tagFloat = 'f'
	tagStr   = 's'
	tagBytes = 'b'
	tagList  = 'l'
	tagDict  = 'd'
)

// maxDepth bounds the nesting of lists and dicts, as bindings.SharedValue
// does (32 levels below the top).
const maxDepth = 32

// errBadEncoding reports a stored value this package did not write.
var errBadEncoding = errors.New("stored value is not in scriptrunner's encoding")

// encode returns the encoding of v, a shared value (bindings.SharedValue).
func encode(v starlark.Value) ([]byte, error) {
	if i, ok := v.(starlark.Int); ok {
		n, ok := i.Int64()
		if !ok {
			return nil, fmt.Errorf("int %s does not fit in 64 bits", i)
		}
		return strconv.AppendInt(nil, n, 10), nil
	}
	return appendValue(nil, v, 0)
}

func appendValue(b []byte, v starlark.Value, depth int) ([]byte, error) {
	if depth > maxDepth {
		return nil, fmt.Errorf("value is nested more than %d deep", maxDepth)
	}
	switch x := v.(type) {
	case starlark.NoneType:
		return append(b, tagNone), nil
	case starlark.Bool:
		if x {
			return append(b, tagTrue), nil
		}
		return append(b, tagFalse), nil
	case starlark.Int:
		n, ok := x.Int64()
		if !ok {
			return nil, fmt.Errorf("int %s does not fit in 64 bits", x)
		}
		return binary.AppendVarint(append(b, tagInt), n), nil
	case starlark.Float:
		return binary.BigEndian.AppendUint64(append(b, tagFloat), math.Float64bits(float64(x))), nil
	case starlark.String:
		return appendBytes(append(b, tagStr), string(x)), nil
	case starlark.Bytes:
		return appendBytes(append(b, tagBytes), string(x)), nil
	case *starlark.List:
		return appendList(b, x, depth)
	case *starlark.Dict:
		return appendDict(b, x, depth)
	}
	return nil, fmt.Errorf("got %s, want None, bool, int, float, str, bytes, or a list or dict of those", v.Type())
}

func appendBytes(b []byte, s string) []byte {
	return append(binary.AppendUvarint(b, uint64(len(s))), s...)
}

func appendList(b []byte, l *starlark.List, depth int) ([]byte, error) {
	b = binary.AppendUvarint(append(b, tagList), uint64(l.Len()))
	for i := range l.Len() {
		var err error
		if b, err = appendValue(b, l.Index(i), depth+1); err != nil {
			return nil, err
		}
	}
	return b, nil
}

func appendDict(b []byte, d *starlark.Dict, depth int) ([]byte, error) {
	b = binary.AppendUvarint(append(b, tagDict), uint64(d.Len()))
	for k, v := range starlark.Entries(d) {
		ks, ok := k.(starlark.String)
		if !ok {
			return nil, fmt.Errorf("got dict key of type %s, want str", k.Type())
		}
		var err error
		if b, err = appendValue(appendBytes(b, string(ks)), v, depth+1); err != nil {
			return nil, err
		}
	}
	return b, nil
}

// decode returns the frozen value whose encoding is data.
func decode(data []byte) (starlark.Value, error) {
	if len(data) > 0 && (data[0] == '-' || '0' <= data[0] && data[0] <= '9') {
		n, err := strconv.ParseInt(string(data), 10, 64)
		if err != nil {
			return nil, errBadEncoding
		}
		return starlark.MakeInt64(n), nil
	}
	d := decoder{data: data}
	v, err := d.value(0)
	if err != nil || len(d.data) > 0 {
		return nil, errBadEncoding
	}
	v.Freeze()
	return v, nil
}

// decoder reads values from the front of data.
type decoder struct{ data []byte }

func (d *decoder) value(depth int) (starlark.Value, error) {
	if depth > maxDepth || len(d.data) == 0 {
		return nil, errBadEncoding
	}
	tag := d.data[0]
	d.data = d.data[1:]
	switch tag {
	case tagNone:
		return starlark.None, nil
	case tagTrue, tagFalse:
		return starlark.Bool(tag == tagTrue), nil
	case tagInt:
		n, k := binary.Varint(d.data)
		if k <= 0 {
			return nil, errBadEncoding
		}
		d.data = d.data[k:]
		return starlark.MakeInt64(n), nil
	case tagFloat:
		if len(d.data) < 8 {
			return nil, errBadEncoding
		}
		f := math.Float64frombits(binary.BigEndian.Uint64(d.data))
		d.data = d.data[8:]
		return starlark.Float(f), nil
	case tagStr, tagBytes:
		s, err := d.bytes()
		if tag == tagStr {
			return starlark.String(s), err
		}
		return starlark.Bytes(s), err
	case tagList:
		return d.list(depth)
	case tagDict:
		return d.dict(depth)
	}
	return nil, errBadEncoding
}

// count reads a length, which cannot exceed the bytes left: every element
// takes at least one.
func (d *decoder) count() (int, error) {
	n, k := binary.Uvarint(d.data)
	if k <= 0 || n > uint64(len(d.data)-k) {
		return 0, errBadEncoding
	}
	d.data = d.data[k:]
	return int(n), nil
}

func (d *decoder) bytes() (string, error) {
	n, err := d.count()
	if err != nil {
		return "", err
	}
	s := string(d.data[:n])
	d.data = d.data[n:]
	return s, nil
}

func (d *decoder) list(depth int) (starlark.Value, error) {
	n, err := d.count()
	if err != nil {
		return nil, err
	}
	elems := make([]starlark.Value, n)
	for i := range elems {
		if elems[i], err = d.value(depth + 1); err != nil {
			return nil, err
		}
	}
	return starlark.NewList(elems), nil
}

func (d *decoder) dict(depth int) (starlark.Value, error) {
	n, err := d.count()
	if err != nil {
		return nil, err
	}
	out := starlark.NewDict(n)
	for range n {
		k, err := d.bytes()
		if err != nil {
			return nil, err
		}
		v, err := d.value(depth + 1)
		if err != nil {
			return nil, err
		}
		if err := out.SetKey(starlark.String(k), v); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// typeName is the Starlark type of the value whose encoding starts with
// b, for error messages.
func typeName(b byte) string {
	switch b {
	case tagNone:
		return "NoneType"
	case tagTrue, tagFalse:
		return "bool"
	case tagInt:
		return "int"
	case tagFloat:
		return "float"
	case tagStr:
		return "string"
	case tagBytes:
		return "bytes"
	case tagList:
		return "list"
	case tagDict:
		return "dict"
	}
	return "unknown"
}
