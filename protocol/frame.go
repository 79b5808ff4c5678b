package protocol

import (
	"errors"
	"fmt"
	"io"

	"github.com/valyala/bytebufferpool"
)

// Type is the frame type byte.
type Type byte

// Frame types (protocol.md §2). A reply carries the type of its request, or
// TypeError.
const (
	TypeError        Type = 0
	TypePrepareConf  Type = 1
	TypeHTTPReqCall  Type = 2
	TypeExtraInfo    Type = 3
	TypeHTTPRespCall Type = 4
)

func (t Type) String() string {
	switch t {
	case TypeError:
		return "RPC_ERROR"
	case TypePrepareConf:
		return "RPC_PREPARE_CONF"
	case TypeHTTPReqCall:
		return "RPC_HTTP_REQ_CALL"
	case TypeExtraInfo:
		return "RPC_EXTRA_INFO"
	case TypeHTTPRespCall:
		return "RPC_HTTP_RESP_CALL"
	}
	return fmt.Sprintf("type(%d)", byte(t))
}

// HeaderSize is the size of a frame header: one type byte and a 24-bit
// big-endian payload length.
const HeaderSize = 4

// MaxFrameSize is the largest payload a frame can carry (2^24 − 1 bytes).
const MaxFrameSize = 1<<24 - 1

var (
	// ErrFrameTooLarge is returned when a payload does not fit the 24-bit
	// length field.
	ErrFrameTooLarge = errors.New("frame payload exceeds 16777215 bytes")
	// ErrEmptyFrame is returned for a frame that declares a zero-length
	// payload; APISIX never sends one.
	ErrEmptyFrame = errors.New("frame has an empty payload")
)

// ReadFrame reads one frame from r into buf, replacing its contents with the
// payload. It reads exactly the 4 header bytes and then exactly the declared
// payload, so split reads are handled and nothing past the frame is
// consumed. A frame header that is cut short returns io.ErrUnexpectedEOF; a
// clean end of stream before any header byte returns io.EOF.
func ReadFrame(r io.Reader, buf *bytebufferpool.ByteBuffer) (Type, error) {
	// The header is read into buf's own storage: a local array would
	// escape to the heap through the io.Reader call, one allocation per
	// frame.
	if cap(buf.B) < HeaderSize {
		buf.B = make([]byte, 0, minBuffer)
	}
	hdr := buf.B[:HeaderSize]
	_, err := io.ReadFull(r, hdr)
	buf.B = buf.B[:0]
	if err != nil {
		return 0, err
	}
	n := int(hdr[1])<<16 | int(hdr[2])<<8 | int(hdr[3])
	t := Type(hdr[0])
	if n == 0 {
		return t, ErrEmptyFrame
	}
	// Grow the buffer with the bytes that actually arrive, so a peer that
	// declares 16 MiB and sends nothing costs little memory.
	for len(buf.B) < n {
		have := len(buf.B)
		want := min(n, max(2*cap(buf.B), readChunk))
		if cap(buf.B) < want {
			grown := make([]byte, have, want)
			copy(grown, buf.B)
			buf.B = grown
		}
		buf.B = buf.B[:cap(buf.B)][:min(n, cap(buf.B))]
		if _, err := io.ReadFull(r, buf.B[have:]); err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return t, fmt.Errorf("protocol: read %s payload of %d bytes: %w", t, n, err)
		}
	}
	return t, nil
}

// readChunk is the first allocation for a payload larger than the buffer.
const readChunk = 64 << 10

// minBuffer is the capacity given to an empty buffer.
const minBuffer = 512

// AppendFrameHeader appends a frame header for a payload of n bytes to dst.
func AppendFrameHeader(dst []byte, t Type, n int) ([]byte, error) {
	if n > MaxFrameSize {
		return dst, ErrFrameTooLarge
	}
	if n <= 0 {
		return dst, ErrEmptyFrame
	}
	return append(dst, byte(t), byte(n>>16), byte(n>>8), byte(n)), nil
}

// WriteFrame writes one frame with a single Write call.
func WriteFrame(w io.Writer, t Type, payload []byte) error {
	out := bytebufferpool.Get()
	defer bytebufferpool.Put(out)
	var err error
	if out.B, err = AppendFrameHeader(out.B[:0], t, len(payload)); err != nil {
		return err
	}
	out.B = append(out.B, payload...)
	_, err = w.Write(out.B)
	return err
}
