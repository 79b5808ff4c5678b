package protocol

import (
	"fmt"
	"sync"

	flatbuffers "github.com/google/flatbuffers/go"

	errpb "github.com/scriptrunner/scriptrunner/protocol/internal/A6/Err"
	eipb "github.com/scriptrunner/scriptrunner/protocol/internal/A6/ExtraInfo"
	pcpb "github.com/scriptrunner/scriptrunner/protocol/internal/A6/PrepareConf"
)

// Action is the kind of answer to an HTTPReqCall.
type Action uint8

// Actions, numbered as the A6.HTTPReqCall.Action union tags.
const (
	ActionNone    Action = 0 // pass through unchanged
	ActionStop    Action = 1 // answer the client now
	ActionRewrite Action = 2 // modify the request and continue
)

// ReqCallReply is the answer to an HTTPReqCall. The zero value passes the
// request through. Reset keeps the capacity of its entry slices so that a
// reply can be reused across calls; Body and Path are dropped, since they
// may alias a script's data.
type ReqCallReply struct {
	Action Action

	// Status, Headers and Body are the Stop response. Headers is also the
	// request header changes of a Rewrite (an entry without value deletes)
	// and Body its replacement request body (empty = unchanged).
	Status  int
	Headers []Entry
	Body    []byte

	// Rewrite only.
	Path        []byte
	HasPath     bool
	Args        []Entry
	RespHeaders []Entry
}

// Reset clears r for reuse.
func (r *ReqCallReply) Reset() {
	clear(r.Headers)
	clear(r.Args)
	clear(r.RespHeaders)
	*r = ReqCallReply{
		Headers:     r.Headers[:0],
		Args:        r.Args[:0],
		RespHeaders: r.RespHeaders[:0],
	}
}

// RespCallReply is the answer to an HTTPRespCall. Status 0 keeps the
// upstream status; a non-empty Headers replaces all upstream headers; a
// non-empty Body replaces the upstream body.
type RespCallReply struct {
	Status  int
	Headers []Entry
	Body    []byte
}

// Reset clears r for reuse.
func (r *RespCallReply) Reset() {
	clear(r.Headers)
	*r = RespCallReply{Headers: r.Headers[:0]}
}

// Encoder builds reply frames. Each method returns a complete frame
// (header and payload) that stays valid until the next call on the same
// Encoder. An Encoder is not safe for concurrent use; get one from
// GetEncoder and return it with PutEncoder.
//
// The HTTPReqCall and HTTPRespCall answers, the per-request hot path, are
// written directly with fbWriter into out, the payload at its end and the
// frame header just in front of it. The other, rarer messages go through
// the generated flatbuffers.Builder code and are copied after a header.
type Encoder struct {
	b   *flatbuffers.Builder
	w   fbWriter
	out []byte
}

var encoderPool = sync.Pool{New: func() any {
	return &Encoder{b: flatbuffers.NewBuilder(1024)}
}}

// GetEncoder returns a pooled Encoder.
func GetEncoder() *Encoder { return encoderPool.Get().(*Encoder) }

// maxPooledEncoder is the largest builder kept in the pool; bigger ones
// (built for large bodies) are left to the garbage collector.
const maxPooledEncoder = 1 << 20

// PutEncoder returns e to the pool. Frames it returned must no longer be
// used.
func PutEncoder(e *Encoder) {
	if cap(e.out) > maxPooledEncoder || cap(e.b.Bytes) > maxPooledEncoder {
		return
	}
	encoderPool.Put(e)
}

// size is the memory the encoder holds.
func (e *Encoder) size() int { return cap(e.out) + cap(e.b.Bytes) }

func (e *Encoder) finish(t Type, root flatbuffers.UOffsetT) ([]byte, error) {
	e.b.Finish(root)
	payload := e.b.FinishedBytes()
	var err error
	if e.out, err = AppendFrameHeader(e.out[:0], t, len(payload)); err != nil {
		return nil, err
	}
	e.out = append(e.out, payload...)
	return e.out, nil
}

func (e *Encoder) reset() {
	e.b.Reset()
}

// Error encodes an RPC_ERROR frame.
func (e *Encoder) Error(code Code) []byte {
	e.reset()
	errpb.RespStart(e.b)
	errpb.RespAddCode(e.b, errpb.Code(code))
	out, _ := e.finish(TypeError, errpb.RespEnd(e.b))
	return out
}

// PrepareConf encodes the answer to a PrepareConf.
func (e *Encoder) PrepareConf(token uint32) []byte {
	e.reset()
	pcpb.RespStart(e.b)
	pcpb.RespAddConfToken(e.b, token)
	out, _ := e.finish(TypePrepareConf, pcpb.RespEnd(e.b))
	return out
}

// The reply writers below write each message in the order the generated
// Builder code would build it (strings and vectors first, then the
// tables, fields in schema order), so the bytes are those of the
// flatbuffers.Builder encoding. A field is left out exactly where that
// code leaves it out: scalars equal to their default 0, empty entry lists
// and bodies, a Rewrite path unless HasPath.

// ReqCall encodes the answer to an HTTPReqCall. It fails with an error
// wrapping ErrFrameTooLarge when the reply does not fit in one frame.
func (e *Encoder) ReqCall(id uint32, r *ReqCallReply) ([]byte, error) {
	content, entries := reqCallContent(r)
	w, err := e.start(TypeHTTPReqCall, content, entries)
	if err != nil {
		return nil, err
	}
	var action int
	switch r.Action {
	case ActionStop:
		action = writeStop(w, r)
	case ActionRewrite:
		action = writeRewrite(w, r)
	}
	var f [3]int
	start := w.head
	f[0] = w.u32Field(id)
	if action != 0 {
		f[1] = w.u8Field(uint8(r.Action))
		f[2] = w.offsetField(action)
	}
	w.finish(w.endTable(start, f[:]))
	return e.frame(TypeHTTPReqCall)
}

// writeStop writes the A6.HTTPReqCall.Stop table of r and returns its
// position.
func writeStop(w *fbWriter, r *ReqCallReply) int {
	headers := w.entries(r.Headers)
	body := w.bytes(r.Body)
	var f [3]int
	start := w.head
	f[0] = w.u16Field(uint16(r.Status))
	f[1] = w.offsetField(headers)
	f[2] = w.offsetField(body)
	return w.endTable(start, f[:])
}

// writeRewrite writes the A6.HTTPReqCall.Rewrite table of r and returns
// its position. The path is present, possibly empty, when r.HasPath.
func writeRewrite(w *fbWriter, r *ReqCallReply) int {
	var path int
	if r.HasPath {
		path = w.str(r.Path)
	}
	headers := w.entries(r.Headers)
	args := w.entries(r.Args)
	respHeaders := w.entries(r.RespHeaders)
	body := w.bytes(r.Body)
	var f [5]int
	start := w.head
	f[0] = w.offsetField(path)
	f[1] = w.offsetField(headers)
	f[2] = w.offsetField(args)
	f[3] = w.offsetField(respHeaders)
	f[4] = w.offsetField(body)
	return w.endTable(start, f[:])
}

// RespCall encodes the answer to an HTTPRespCall. It fails with an error
// wrapping ErrFrameTooLarge when the reply does not fit in one frame.
func (e *Encoder) RespCall(id uint32, r *RespCallReply) ([]byte, error) {
	content, entries := entriesContent(r.Headers)
	w, err := e.start(TypeHTTPRespCall, content+len(r.Body), entries)
	if err != nil {
		return nil, err
	}
	headers := w.entries(r.Headers)
	body := w.bytes(r.Body)
	var f [4]int
	start := w.head
	f[0] = w.u32Field(id)
	f[1] = w.u16Field(uint16(r.Status))
	f[2] = w.offsetField(headers)
	f[3] = w.offsetField(body)
	w.finish(w.endTable(start, f[:]))
	return e.frame(TypeHTTPRespCall)
}

// Size bounds of a reply payload, from the bytes of its strings and
// bodies (content) and its number of entries. Beyond the content, an
// entry takes at most 40 bytes: two strings' lengths and NULs with up to
// 3 bytes of padding each (16), its table (12), its vtable (8) and its
// slot in the vector (4). The rest of an HTTPReqCall answer takes at most
// 113 bytes: the Rewrite path's length, NUL and padding (8), the body's
// length and padding (7), three vector lengths with padding (21), the
// Rewrite table and its vtable with padding (41; a Stop takes 26), the
// root table and its vtable (29) and the padded root offset (7); the rest
// of an HTTPRespCall answer, 53. Every reply has at least the root
// offset, the root table's soffset and a 4-byte vtable.
const (
	entryMaxOverhead = 40
	replyMaxOverhead = 128
	replyMinOverhead = 12
)

// entriesContent returns the bytes of the names and values the encoded
// list carries, and its length.
func entriesContent(list []Entry) (content, n int) {
	for i := range list {
		content += len(list[i].Name)
		if list[i].HasValue {
			content += len(list[i].Value)
		}
	}
	return content, len(list)
}

// reqCallContent returns the bytes of the strings and bodies the encoded
// r carries, and its number of entries.
func reqCallContent(r *ReqCallReply) (content, entries int) {
	switch r.Action {
	case ActionStop:
		content, entries = entriesContent(r.Headers)
		content += len(r.Body)
	case ActionRewrite:
		content, entries = entriesContent(r.Headers)
		c, n := entriesContent(r.Args)
		content, entries = content+c, entries+n
		c, n = entriesContent(r.RespHeaders)
		content, entries = content+c, entries+n
		content += len(r.Body)
		if r.HasPath {
			content += len(r.Path)
		}
	}
	return content, entries
}

// start prepares the writer for a reply of type t with the given content
// bytes and entries: out is sized for the largest payload they can make
// plus the frame header. A reply whose content alone cannot fit in a
// frame fails here, before anything is written.
func (e *Encoder) start(t Type, content, entries int) (*fbWriter, error) {
	if content+replyMinOverhead > MaxFrameSize {
		return nil, fmt.Errorf("protocol: encode %s reply with %d bytes of strings and bodies: %w", t, content, ErrFrameTooLarge)
	}
	// A multiple of 4, as fbWriter needs.
	n := (HeaderSize + content + entries*entryMaxOverhead + replyMaxOverhead + 3) &^ 3
	if cap(e.out) < n {
		e.out = make([]byte, max(n, 2*cap(e.out)))
	}
	e.w.reset(e.out[:n])
	return &e.w, nil
}

// frame writes the frame header in the bytes just in front of the
// finished payload, which the size bound of start left free, and returns
// header and payload.
func (e *Encoder) frame(t Type) ([]byte, error) {
	payload := e.w.payload()
	at := e.w.head - HeaderSize
	// The header is appended to an empty slice at at, whose capacity
	// runs into the payload: append writes it in place.
	if _, err := AppendFrameHeader(e.w.buf[at:at], t, len(payload)); err != nil {
		return nil, fmt.Errorf("protocol: encode %s reply of %d bytes: %w", t, len(payload), err)
	}
	return e.w.buf[at:], nil
}

// InfoKind is the kind of an ExtraInfo question.
type InfoKind uint8

// ExtraInfo kinds, numbered as the A6.ExtraInfo.Info union tags.
const (
	InfoVar      InfoKind = 1
	InfoReqBody  InfoKind = 2
	InfoRespBody InfoKind = 3
)

func (k InfoKind) String() string {
	switch k {
	case InfoVar:
		return "var"
	case InfoReqBody:
		return "req_body"
	case InfoRespBody:
		return "resp_body"
	}
	return "unknown"
}

// ExtraInfo encodes an ExtraInfo question; name is used for InfoVar only.
func (e *Encoder) ExtraInfo(kind InfoKind, name string) []byte {
	e.reset()
	var info flatbuffers.UOffsetT
	switch kind {
	case InfoVar:
		n := e.b.CreateString(name)
		eipb.VarStart(e.b)
		eipb.VarAddName(e.b, n)
		info = eipb.VarEnd(e.b)
	case InfoReqBody:
		eipb.ReqBodyStart(e.b)
		info = eipb.ReqBodyEnd(e.b)
	default:
		eipb.RespBodyStart(e.b)
		info = eipb.RespBodyEnd(e.b)
	}
	eipb.ReqStart(e.b)
	eipb.ReqAddInfoType(e.b, eipb.Info(kind))
	eipb.ReqAddInfo(e.b, info)
	out, _ := e.finish(TypeExtraInfo, eipb.ReqEnd(e.b))
	return out
}
