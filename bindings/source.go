package bindings

// Entries is a read-only list of name/value pairs as the host decoded them.
// hasValue is false when the value is absent on the wire (an argument
// without '='). The returned slices are only read, never retained.
type Entries interface {
	Len() int
	At(i int) (name, value []byte, hasValue bool)
}

// Fetcher asks the host (APISIX, through ExtraInfo) for data that is not in
// the call message. ok is false when the host has no value. Returned bytes
// are copied before use, so they may point into a reused buffer.
type Fetcher interface {
	Var(name string) (value []byte, ok bool, err error)
	Body() (body []byte, ok bool, err error)
}

// Request is the host's view of an HTTPReqCall.
type Request interface {
	Fetcher
	ID() uint32
	Method() string
	Path() []byte
	// SrcIP is the client address in network order: 4 or 16 bytes.
	SrcIP() []byte
	Headers() Entries
	Args() Entries
}

// Response is the host's view of an HTTPRespCall.
type Response interface {
	Fetcher
	ID() uint32
	Status() int
	Headers() Entries
}

// Limits bound what one call may read and build.
type Limits struct {
	// MaxBodyBytes caps the request or response body a script may read
	// with body()/text()/json(). Zero means no cap.
	MaxBodyBytes int
}

// KV is one name/value pair of a decision. HasValue false means "delete"
// in request header and argument changes.
type KV struct {
	Name     string
	Value    string
	HasValue bool
}
