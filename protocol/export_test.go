package protocol

import "time"

// Dirty gives e an output buffer of at least n bytes and fills its first n
// bytes with 0xff, so that a test sees any byte of a frame an encoder
// leaves unwritten.
func Dirty(e *Encoder, n int) {
	if cap(e.out) < n {
		e.out = make([]byte, n)
	}
	out := e.out[:n]
	if n == 0 {
		return
	}
	out[0] = 0xff
	for i := 1; i < n; i *= 2 {
		copy(out[i:], out[:i])
	}
}

// ReqCallBounds returns the smallest and the largest payload ReqCall
// expects for r: it fails with ErrFrameTooLarge when the smallest exceeds
// MaxFrameSize, and sizes its buffer for the largest.
func ReqCallBounds(r *ReqCallReply) (lo, hi int) {
	content, entries := reqCallContent(r)
	return payloadBounds(content, entries)
}

// RespCallBounds is ReqCallBounds for RespCall.
func RespCallBounds(r *RespCallReply) (lo, hi int) {
	content, entries := entriesContent(r.Headers)
	return payloadBounds(content+len(r.Body), entries)
}

func payloadBounds(content, entries int) (lo, hi int) {
	return content + replyMinOverhead, content + entries*entryMaxOverhead + replyMaxOverhead
}

// SetPokeEvery sets the poker's tick of s; call it before Serve.
func SetPokeEvery(s *Server, d time.Duration) { s.pokeEvery = d }

// Pokes returns how many waits the poker of s has ended.
func Pokes(s *Server) uint64 { return s.pokes.Load() }
