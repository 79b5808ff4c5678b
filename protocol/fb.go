package protocol

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// The generated FlatBuffers accessors index slices without any bounds
// checks and panic on malformed input. Every decoder in this package reads
// through the small checked reader below instead: each offset is verified
// against the buffer before it is followed, so arbitrary bytes yield an
// error, never a panic and never a read outside the payload.

// ErrMalformed is wrapped by every decoding error caused by bytes that are
// not a valid message of the expected type.
var ErrMalformed = errors.New("malformed flatbuffer")

func malformed(what string, args ...any) error {
	return fmt.Errorf("%w: "+what, append([]any{ErrMalformed}, args...)...)
}

// table is a verified position of a FlatBuffers table inside buf.
type table struct {
	buf   []byte
	pos   uint32 // start of the table
	vt    uint32 // start of its vtable
	vtLen uint32 // vtable size in bytes
	tLen  uint32 // table inline size in bytes
}

func u32(b []byte, at uint32) uint32 { return binary.LittleEndian.Uint32(b[at:]) }
func u16(b []byte, at uint32) uint16 { return binary.LittleEndian.Uint16(b[at:]) }

// fits reports whether [at, at+n) lies inside buf, without overflow.
func fits(buf []byte, at uint32, n uint64) bool {
	return uint64(at)+n <= uint64(len(buf))
}

// rootTable returns the root table of a finished buffer.
func rootTable(buf []byte) (table, error) {
	if len(buf) < 8 {
		return table{}, malformed("payload of %d bytes is too short", len(buf))
	}
	return tableAt(buf, u32(buf, 0))
}

// tableAt verifies the table starting at pos.
func tableAt(buf []byte, pos uint32) (table, error) {
	if !fits(buf, pos, 4) {
		return table{}, malformed("table offset %d out of range", pos)
	}
	soff := int64(int32(u32(buf, pos)))
	vt := int64(pos) - soff
	if vt < 0 || vt > int64(len(buf))-4 {
		return table{}, malformed("vtable offset %d out of range", vt)
	}
	t := table{buf: buf, pos: pos, vt: uint32(vt)}
	t.vtLen = uint32(u16(buf, t.vt))
	t.tLen = uint32(u16(buf, t.vt+2))
	if t.vtLen < 4 || t.vtLen%2 != 0 || !fits(buf, t.vt, uint64(t.vtLen)) {
		return table{}, malformed("vtable size %d invalid", t.vtLen)
	}
	if t.tLen < 4 || !fits(buf, pos, uint64(t.tLen)) {
		return table{}, malformed("table size %d invalid", t.tLen)
	}
	return t, nil
}

// field returns the absolute position of field slot i (0-based, in schema
// order) and whether it is present; size is the inline size it must have.
func (t table) field(slot int, size uint32) (uint32, bool, error) {
	vo := uint32(4 + 2*slot)
	if vo+2 > t.vtLen {
		return 0, false, nil // field newer than the writer's schema: absent
	}
	off := uint32(u16(t.buf, t.vt+vo))
	if off == 0 {
		return 0, false, nil
	}
	if off+size > t.tLen {
		return 0, false, malformed("field %d at %d overruns its table", slot, off)
	}
	return t.pos + off, true, nil
}

func (t table) uint32(slot int) (uint32, error) {
	at, ok, err := t.field(slot, 4)
	if !ok || err != nil {
		return 0, err
	}
	return u32(t.buf, at), nil
}

func (t table) uint16(slot int) (uint16, error) {
	at, ok, err := t.field(slot, 2)
	if !ok || err != nil {
		return 0, err
	}
	return u16(t.buf, at), nil
}

func (t table) uint8(slot int) (uint8, error) {
	at, ok, err := t.field(slot, 1)
	if !ok || err != nil {
		return 0, err
	}
	return t.buf[at], nil
}

// indirect follows the uoffset stored at pos.
func (t table) indirect(pos uint32) (uint32, error) {
	target := uint64(pos) + uint64(u32(t.buf, pos))
	if target+4 > uint64(len(t.buf)) {
		return 0, malformed("offset to %d out of range", target)
	}
	return uint32(target), nil
}

// vector returns the position of the first element and the element count
// of the vector in field slot, checking that count*elem bytes fit.
func (t table) vector(slot int, elem uint32) (start, n uint32, ok bool, err error) {
	at, ok, err := t.field(slot, 4)
	if !ok || err != nil {
		return 0, 0, ok, err
	}
	v, err := t.indirect(at)
	if err != nil {
		return 0, 0, false, err
	}
	n = u32(t.buf, v)
	if !fits(t.buf, v+4, uint64(n)*uint64(elem)) {
		return 0, 0, false, malformed("vector of %d elements overruns the buffer", n)
	}
	return v + 4, n, true, nil
}

// bytes returns the string or [ubyte] in field slot as a sub-slice of the
// buffer (no copy). ok is false when the field is absent.
func (t table) bytes(slot int) (b []byte, ok bool, err error) {
	start, n, ok, err := t.vector(slot, 1)
	if !ok || err != nil {
		return nil, ok, err
	}
	return t.buf[start : start+n : start+n], true, nil
}

// tableElem returns the i-th table of a vector of tables starting at start.
func (t table) tableElem(start, i uint32) (table, error) {
	at := start + 4*i
	target, err := t.indirect(at)
	if err != nil {
		return table{}, err
	}
	return tableAt(t.buf, target)
}

// union returns the table of a union value field.
func (t table) union(slot int) (table, bool, error) {
	at, ok, err := t.field(slot, 4)
	if !ok || err != nil {
		return table{}, ok, err
	}
	target, err := t.indirect(at)
	if err != nil {
		return table{}, false, err
	}
	sub, err := tableAt(t.buf, target)
	return sub, err == nil, err
}
