package protocol

import (
	"encoding/binary"
	"net/netip"
	"slices"
)

// Entry is one name/value pair (A6.TextEntry). Name and Value point into
// the frame buffer they were decoded from and are valid only as long as
// that buffer is. HasValue is false when the value field is absent, which
// is meaningful: an argument without '=' in a request, a delete in a
// Rewrite.
type Entry struct {
	Name     []byte
	Value    []byte
	HasValue bool
}

// Method is the A6.Method enum.
type Method uint8

var methodNames = [...]string{
	"GET", "HEAD", "POST", "PUT", "DELETE", "MKCOL", "COPY", "MOVE",
	"OPTIONS", "PROPFIND", "PROPPATCH", "LOCK", "UNLOCK", "PATCH", "TRACE",
}

// String returns the HTTP method name.
func (m Method) String() string {
	if int(m) < len(methodNames) {
		return methodNames[m]
	}
	return "UNKNOWN"
}

// ParseMethod maps an HTTP method name to its enum value.
func ParseMethod(s string) (Method, bool) {
	for i, n := range methodNames {
		if n == s {
			return Method(i), true
		}
	}
	return 0, false
}

// MaxEntries bounds the entries of one header, argument or conf list. A
// hostile frame could otherwise point millions of vector elements at one
// small table and make the decoder allocate hundreds of megabytes.
// OpenResty hands APISIX at most 100 headers by default.
const MaxEntries = 1 << 16

// decodeEntries appends the TextEntry vector in field slot of t to dst.
// On error dst is returned as it was.
func decodeEntries(dst []Entry, t table, slot int, what string) ([]Entry, error) {
	start, n, ok, err := t.vector(slot, 4)
	if err != nil {
		return dst, wrap(what, err)
	}
	if !ok {
		return dst, nil
	}
	if n > MaxEntries {
		return dst, wrap(what, malformed("%d entries exceed the limit of %d", n, MaxEntries))
	}
	buf := t.buf
	var shape entryShape
	base := len(dst)
	dst = slices.Grow(dst, int(n))[:base+int(n)]
	out := dst[base:]
	for i := range out {
		if !shape.entry(buf, start+4*uint32(i), &out[i]) {
			dst = dst[:base]
			// Take the slow path for a precise error.
			if _, err := t.tableElem(start, uint32(i)); err != nil {
				return dst, wrapIndex(what, uint32(i), err)
			}
			return dst, wrapIndex(what, uint32(i), malformed("text entry out of bounds"))
		}
	}
	return dst, nil
}

// entryShape is a checked A6.TextEntry vtable: where the table's size and
// its two fields' offsets are. Encoders share one vtable between tables
// of the same shape, so the entries of a vector nearly always have one,
// and each entry after the first is read without checking it again.
type entryShape struct {
	vt        int64  // the vtable's position
	tLen      uint64 // the table's size; 0 before the first entry
	name, val uint64 // the fields' offsets in the table; 0 when absent
}

// entry decodes the TextEntry table referenced by the offset at position
// at into e, checking every offset against buf, and reports false for
// anything malformed. It is the decoder's inner loop, so it reads the
// table directly instead of through table's general accessors, and it
// writes into the caller's slice: returning the two slices and appending
// them cost 14 % of BenchmarkDecodeHTTPReqCall/10hdr3args.
func (s *entryShape) entry(buf []byte, at uint32, e *Entry) bool {
	size := uint64(len(buf))
	if uint64(at)+4 > size {
		return false
	}
	pos := uint64(at) + uint64(binary.LittleEndian.Uint32(buf[at:]))
	if pos+4 > size {
		return false
	}
	vt := int64(pos) - int64(int32(binary.LittleEndian.Uint32(buf[pos:])))
	if (s.tLen == 0 || vt != s.vt) && !s.check(buf, vt) {
		return false
	}
	if pos+s.tLen > size {
		return false
	}
	var ok bool
	e.Name, e.Value, e.HasValue = nil, nil, false
	if s.name != 0 {
		if e.Name, ok = stringAt(buf, pos+s.name); !ok {
			return false
		}
	}
	if s.val == 0 {
		return true
	}
	e.Value, ok = stringAt(buf, pos+s.val)
	e.HasValue = ok
	return ok
}

// check reads and checks the vtable at vt into s. It repeats tableAt's
// and table.field's checks inline: through them, decoding a vector cost
// 20-30 ns more per vtable (BenchmarkDecodeHTTPReqCall, +17 % and +32 %).
func (s *entryShape) check(buf []byte, vt int64) bool {
	size := uint64(len(buf))
	if vt < 0 || uint64(vt)+4 > size {
		return false
	}
	vtLen := uint64(binary.LittleEndian.Uint16(buf[vt:]))
	tLen := uint64(binary.LittleEndian.Uint16(buf[vt+2:]))
	if vtLen < 4 || vtLen%2 != 0 || uint64(vt)+vtLen > size || tLen < 4 {
		return false
	}
	field := func(slot uint64) (uint64, bool) {
		vo := 4 + 2*slot
		if vo+2 > vtLen {
			return 0, true
		}
		off := uint64(binary.LittleEndian.Uint16(buf[uint64(vt)+vo:]))
		return off, off == 0 || off+4 <= tLen
	}
	name, ok1 := field(0)
	val, ok2 := field(1)
	if !ok1 || !ok2 {
		return false
	}
	*s = entryShape{vt: vt, tLen: tLen, name: name, val: val}
	return true
}

// stringAt reads the string (or byte vector) whose offset is at position
// at, which the caller has checked to be inside buf with 4 bytes to spare.
func stringAt(buf []byte, at uint64) ([]byte, bool) {
	size := uint64(len(buf))
	v := at + uint64(binary.LittleEndian.Uint32(buf[at:]))
	if v+4 > size {
		return nil, false
	}
	n := uint64(binary.LittleEndian.Uint32(buf[v:]))
	if v+4+n > size {
		return nil, false
	}
	return buf[v+4 : v+4+n : v+4+n], true
}

// PrepareConfRequest is a decoded A6.PrepareConf.Req.
type PrepareConfRequest struct {
	Key  []byte
	Conf []Entry
}

// Decode decodes payload into r, reusing r's slices. r keeps pointing into
// payload.
func (r *PrepareConfRequest) Decode(payload []byte) error {
	*r = PrepareConfRequest{Conf: r.Conf[:0]}
	t, err := rootTable(payload)
	if err != nil {
		return wrap("PrepareConf", err)
	}
	if r.Conf, err = decodeEntries(r.Conf, t, 0, "PrepareConf.conf"); err != nil {
		return err
	}
	if r.Key, _, err = t.bytes(1); err != nil {
		return wrap("PrepareConf.key", err)
	}
	return nil
}

// HTTPReqCallRequest is a decoded A6.HTTPReqCall.Req. It satisfies the
// request interface of package bindings through its methods.
type HTTPReqCallRequest struct {
	ID        uint32
	ConfToken uint32
	Method    Method
	Path      []byte
	SrcIP     []byte
	Args      []Entry
	Headers   []Entry
}

// Decode decodes payload into r, reusing r's slices.
func (r *HTTPReqCallRequest) Decode(payload []byte) error {
	*r = HTTPReqCallRequest{Args: r.Args[:0], Headers: r.Headers[:0]}
	t, err := rootTable(payload)
	if err != nil {
		return wrap("HTTPReqCall", err)
	}
	if r.ID, err = t.uint32(0); err != nil {
		return wrap("HTTPReqCall.id", err)
	}
	if r.SrcIP, _, err = t.bytes(1); err != nil {
		return wrap("HTTPReqCall.src_ip", err)
	}
	m, err := t.uint8(2)
	if err != nil {
		return wrap("HTTPReqCall.method", err)
	}
	if int(m) >= len(methodNames) {
		return wrap("HTTPReqCall.method", malformed("unknown method %d", m))
	}
	r.Method = Method(m)
	if r.Path, _, err = t.bytes(3); err != nil {
		return wrap("HTTPReqCall.path", err)
	}
	if r.Args, err = decodeEntries(r.Args, t, 4, "HTTPReqCall.args"); err != nil {
		return err
	}
	if r.Headers, err = decodeEntries(r.Headers, t, 5, "HTTPReqCall.headers"); err != nil {
		return err
	}
	if r.ConfToken, err = t.uint32(6); err != nil {
		return wrap("HTTPReqCall.conf_token", err)
	}
	return nil
}

// SrcAddr returns the client address, or the zero Addr when src_ip is not
// 4 or 16 bytes long.
func (r *HTTPReqCallRequest) SrcAddr() netip.Addr {
	a, _ := netip.AddrFromSlice(r.SrcIP)
	return a.Unmap()
}

// HTTPRespCallRequest is a decoded A6.HTTPRespCall.Req.
type HTTPRespCallRequest struct {
	ID        uint32
	Status    uint16
	ConfToken uint32
	Headers   []Entry
}

// Decode decodes payload into r, reusing r's slices.
func (r *HTTPRespCallRequest) Decode(payload []byte) error {
	*r = HTTPRespCallRequest{Headers: r.Headers[:0]}
	t, err := rootTable(payload)
	if err != nil {
		return wrap("HTTPRespCall", err)
	}
	if r.ID, err = t.uint32(0); err != nil {
		return wrap("HTTPRespCall.id", err)
	}
	if r.Status, err = t.uint16(1); err != nil {
		return wrap("HTTPRespCall.status", err)
	}
	if r.Headers, err = decodeEntries(r.Headers, t, 2, "HTTPRespCall.headers"); err != nil {
		return err
	}
	if r.ConfToken, err = t.uint32(3); err != nil {
		return wrap("HTTPRespCall.conf_token", err)
	}
	return nil
}

// ExtraInfoResponse is a decoded A6.ExtraInfo.Resp.
type ExtraInfoResponse struct {
	Result    []byte
	HasResult bool
}

// Decode decodes payload into r.
func (r *ExtraInfoResponse) Decode(payload []byte) error {
	*r = ExtraInfoResponse{}
	t, err := rootTable(payload)
	if err != nil {
		return wrap("ExtraInfo", err)
	}
	if r.Result, r.HasResult, err = t.bytes(0); err != nil {
		return wrap("ExtraInfo.result", err)
	}
	return nil
}
