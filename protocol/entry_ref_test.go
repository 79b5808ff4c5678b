package protocol

import (
	"encoding/binary"
	"reflect"
	"testing"
)

// The reference below checked every TextEntry's vtable again; entryShape
// checks each vtable once. FuzzEntryShape holds them to the same answers.

// textEntryRef is the decoder's inner loop before entryShape: it
// decodes the TextEntry table referenced by the offset at
// position at, checking every offset against buf. It is the decoder's
// inner loop, so it reads the table directly instead of through table's
// general accessors; ok is false for anything malformed.
func textEntryRef(buf []byte, at uint32) (name, value []byte, has, ok bool) {
	size := uint64(len(buf))
	if uint64(at)+4 > size {
		return nil, nil, false, false
	}
	pos := uint64(at) + uint64(binary.LittleEndian.Uint32(buf[at:]))
	if pos+4 > size {
		return nil, nil, false, false
	}
	vt := int64(pos) - int64(int32(binary.LittleEndian.Uint32(buf[pos:])))
	if vt < 0 || uint64(vt)+4 > size {
		return nil, nil, false, false
	}
	vtLen := uint64(binary.LittleEndian.Uint16(buf[vt:]))
	tLen := uint64(binary.LittleEndian.Uint16(buf[vt+2:]))
	if vtLen < 4 || vtLen%2 != 0 || uint64(vt)+vtLen > size || tLen < 4 || pos+tLen > size {
		return nil, nil, false, false
	}
	if name, _, ok = stringFieldRef(buf, pos, uint64(vt), vtLen, tLen, 0); !ok {
		return nil, nil, false, false
	}
	value, has, ok = stringFieldRef(buf, pos, uint64(vt), vtLen, tLen, 1)
	return name, value, has, ok
}

// stringFieldRef reads the string (or byte vector) in field slot of the
// table at pos whose vtable is at vt; present is false when absent.
func stringFieldRef(buf []byte, pos, vt, vtLen, tLen uint64, slot uint64) (b []byte, present, ok bool) {
	vo := 4 + 2*slot
	if vo+2 > vtLen {
		return nil, false, true
	}
	off := uint64(binary.LittleEndian.Uint16(buf[vt+vo:]))
	if off == 0 {
		return nil, false, true
	}
	if off+4 > tLen {
		return nil, false, false
	}
	at := pos + off
	v := at + uint64(binary.LittleEndian.Uint32(buf[at:]))
	size := uint64(len(buf))
	if v+4 > size {
		return nil, false, false
	}
	n := uint64(binary.LittleEndian.Uint32(buf[v:]))
	if v+4+n > size {
		return nil, false, false
	}
	return buf[v+4 : v+4+n : v+4+n], true, true
}

type entryResult struct {
	Name, Value []byte
	Has, OK     bool
}

// FuzzEntryShape decodes entries at the positions listed in ats (two bytes
// each) from buf, carrying one entryShape from entry to entry as
// decodeEntries does, and compares every answer with textEntryRef's.
func FuzzEntryShape(f *testing.F) {
	// Two entries sharing one vtable, then one with its own that lacks
	// the value field.
	b := []byte{
		12, 0, 0, 0, 28, 0, 0, 0, 44, 0, 0, 0, // offsets to the tables at 12, 32, 56
		6, 0, 12, 0, 4, 0, 8, 0, // shared vtable at 12: name at 4, value at 8
	}
	b = binary.LittleEndian.AppendUint32(b, 0) // pad
	f.Add(b, []byte{0, 0, 4, 0, 8, 0})
	f.Add([]byte{}, []byte{0, 0})
	f.Fuzz(func(t *testing.T, buf, ats []byte) {
		var s entryShape
		for i := 0; i+1 < len(ats); i += 2 {
			at := uint32(binary.LittleEndian.Uint16(ats[i:]))
			var want, got entryResult
			want.Name, want.Value, want.Has, want.OK = textEntryRef(buf, at)
			var e Entry
			got.OK = s.entry(buf, at, &e)
			got.Name, got.Value, got.Has = e.Name, e.Value, e.HasValue
			if !want.OK {
				want = entryResult{}
			}
			if !got.OK {
				got = entryResult{}
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("entry at %d: got %+v, want %+v (buf %x)", at, got, want, buf)
			}
		}
	})
}
