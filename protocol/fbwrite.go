package protocol

import "encoding/binary"

// fbWriter writes a FlatBuffer from its end towards its start, into a
// buffer sized beforehand for the whole message. It makes the layout
// decisions flatbuffers.Builder makes (objects placed back to front in
// the order they are written, the same padding, a table's vtable just
// below it unless an equal one was written before), so that a message
// written in the order of the generated Builder code comes out byte for
// byte the same. What it leaves out is the Builder's generality: buffer
// growth, nesting checks, per-object bookkeeping, and the search for an
// equal vtable, since the few that can be shared are known in advance
// (sharedVtable).
//
// Positions are indexes into buf; a finished payload is buf[head:].
// len(buf) is a multiple of 4, so the Builder's alignment, counted from
// the end of the buffer, is also the alignment of the index. No object is
// at position 0, which the field writers use for "absent": the caller
// leaves room below the payload (for the frame header).
//
// Bytes below head are scratch: writers may store zeros there to pad in
// one store. The caller sizes buf with an upper bound of the payload plus
// at least 4 bytes; a bound that is too small panics with an index out of
// range, never writes outside buf.
type fbWriter struct {
	buf  []byte
	head int

	// vtName and vtNameValue are the positions of the vtables of a
	// TextEntry without and with a value, once one is written, else 0.
	vtName, vtNameValue int

	// tables collects the table positions of a vector of tables while
	// its elements are written.
	tables []int
}

// reset starts a new payload that ends at the end of buf.
func (w *fbWriter) reset(buf []byte) {
	w.buf, w.head = buf, len(buf)
	w.vtName, w.vtNameValue = 0, 0
}

// payload returns the finished payload.
func (w *fbWriter) payload() []byte { return w.buf[w.head:] }

// align4 returns the 4-aligned position at or below h, with the padding
// in between zeroed.
func align4(buf []byte, h int) int {
	binary.LittleEndian.PutUint32(buf[h-4:], 0)
	return h &^ 3
}

// str writes s as a string (length, bytes, NUL, padding) and returns its
// position.
func (w *fbWriter) str(s []byte) int { return w.vector(s, 1) }

// bytes writes v as a [ubyte] vector and returns its position, or 0
// without writing anything when v is empty: an empty vector is left out.
func (w *fbWriter) bytes(v []byte) int {
	if len(v) == 0 {
		return 0
	}
	return w.vector(v, 0)
}

// vector writes v as a byte vector followed by nul zero bytes (1 for a
// string's NUL), padded to 4, and returns its position.
func (w *fbWriter) vector(v []byte, nul int) int {
	buf, h := w.buf, w.head
	// A string's NUL and the padding lie in the 4 bytes below head.
	binary.LittleEndian.PutUint32(buf[h-4:], 0)
	h = (h-len(v)-nul)&^3 - 4
	binary.LittleEndian.PutUint32(buf[h:], uint32(len(v)))
	copy(buf[h+4:], v)
	w.head = h
	return h
}

// entries writes list as a [TextEntry] vector, each entry's strings before
// its table, and returns the vector's position, or 0 without writing
// anything when list is empty.
func (w *fbWriter) entries(list []Entry) int {
	if len(list) == 0 {
		return 0
	}
	w.tables = w.tables[:0]
	for i := range list {
		w.tables = append(w.tables, w.textEntry(&list[i]))
	}
	buf, tables := w.buf, w.tables
	h := align4(buf, w.head)
	for i := len(tables) - 1; i >= 0; i-- {
		h -= 4
		binary.LittleEndian.PutUint32(buf[h:], uint32(tables[i]-h))
	}
	h -= 4
	binary.LittleEndian.PutUint32(buf[h:], uint32(len(tables)))
	w.head = h
	return h
}

// textEntry writes one A6.TextEntry and returns its position. An entry
// without HasValue gets no value field. It lays the table out as
// endTable would, with the offsets known in advance: the table follows a
// string, so it starts aligned.
func (w *fbWriter) textEntry(e *Entry) int {
	name := w.str(e.Name)
	if !e.HasValue {
		// soffset, name.
		obj := w.head - 8
		binary.LittleEndian.PutUint32(w.buf[obj+4:], uint32(name-obj-4))
		return w.entryVtable(obj, &w.vtName, vtableName, 6)
	}
	value := w.str(e.Value)
	// soffset, value, name.
	buf, obj := w.buf, w.head-12
	binary.LittleEndian.PutUint32(buf[obj+4:], uint32(value-obj-4))
	binary.LittleEndian.PutUint32(buf[obj+8:], uint32(name-obj-8))
	return w.entryVtable(obj, &w.vtNameValue, vtableNameValue, 8)
}

// The TextEntry vtables as the 8 bytes below a table, vtable at the top:
// {6 bytes, table of 8, name at 4} and {8 bytes, table of 12, name at 8,
// value at 4}.
const (
	vtableName      = 0x0004_0008_0006 << 16
	vtableNameValue = 0x0004_0008_000c_0008
)

// entryVtable points the TextEntry at obj to its vtable, at *vt, after
// writing the vtable (size bytes of the 8 in bytes) below the table if
// *vt is 0. It returns obj.
func (w *fbWriter) entryVtable(obj int, vt *int, bytes uint64, size int) int {
	w.head = obj
	if *vt == 0 {
		binary.LittleEndian.PutUint64(w.buf[obj-8:], bytes)
		*vt = obj - size
		w.head = *vt
	}
	binary.LittleEndian.PutUint32(w.buf[obj:], uint32(int32(obj-*vt)))
	return obj
}

// The field writers below write one table field and return its position
// for endTable, or 0 without writing anything when the value is the
// default and the field is left out.

func (w *fbWriter) u8Field(v uint8) int {
	if v == 0 {
		return 0
	}
	w.head--
	w.buf[w.head] = v
	return w.head
}

func (w *fbWriter) u16Field(v uint16) int {
	if v == 0 {
		return 0
	}
	buf, h := w.buf, w.head
	buf[h-1] = 0 // the padding byte, if head is odd
	h = h&^1 - 2
	binary.LittleEndian.PutUint16(buf[h:], v)
	w.head = h
	return h
}

func (w *fbWriter) u32Field(v uint32) int {
	if v == 0 {
		return 0
	}
	buf := w.buf
	h := align4(buf, w.head) - 4
	binary.LittleEndian.PutUint32(buf[h:], v)
	w.head = h
	return h
}

// offsetField writes a uoffset to the object at target; target 0 means
// absent.
func (w *fbWriter) offsetField(target int) int {
	if target == 0 {
		return 0
	}
	buf := w.buf
	h := align4(buf, w.head) - 4
	binary.LittleEndian.PutUint32(buf[h:], uint32(target-h))
	w.head = h
	return h
}

// endTable closes the table whose fields were written below start (head
// before its first field) and returns its position. fields holds, in
// schema order, the positions the field writers returned. It writes the
// table's soffset, pointing it either at an equal vtable written before
// or at a new vtable written just below the table.
func (w *fbWriter) endTable(start int, fields []int) int {
	buf := w.buf
	obj := align4(buf, w.head) - 4
	for len(fields) > 0 && fields[len(fields)-1] == 0 {
		fields = fields[:len(fields)-1]
	}
	w.head = obj
	vt := w.sharedVtable(obj, fields)
	if vt == 0 {
		vt = obj - 4 - 2*len(fields)
		binary.LittleEndian.PutUint16(buf[vt:], uint16(4+2*len(fields)))
		binary.LittleEndian.PutUint16(buf[vt+2:], uint16(start-obj))
		for i, f := range fields {
			var off uint16
			if f != 0 {
				off = uint16(f - obj)
			}
			binary.LittleEndian.PutUint16(buf[vt+4+2*i:], off)
		}
		w.head = vt
	}
	binary.LittleEndian.PutUint32(buf[obj:], uint32(int32(obj-vt)))
	return obj
}

// sharedVtable returns the position of a vtable written before that is
// equal to the one of the table at obj, or 0. Equal means the same field
// offsets: like the Builder, it does not compare the table sizes.
//
// TextEntry tables share their two vtables among themselves
// (entryVtable). The other tables come after all the entries of their
// message, at most one of each kind, and never have the same offsets as
// each other: the HTTPReqCall root has its action type, a byte, at an odd
// offset, and a message has a Stop or a Rewrite, not both. So the only
// vtable such a table can share is a TextEntry's: the one with a value
// (offsets 8 and 4), which a Rewrite with exactly a path and headers
// matches. The shape of a TextEntry without a value (offset 4) occurs
// only in messages without entries: a Rewrite with only a path, a root
// with only an id.
func (w *fbWriter) sharedVtable(obj int, fields []int) int {
	if len(fields) == 2 && fields[0]-obj == 8 && fields[1]-obj == 4 {
		return w.vtNameValue
	}
	return 0
}

// finish writes the root uoffset to the table at root.
func (w *fbWriter) finish(root int) {
	w.offsetField(root)
}
