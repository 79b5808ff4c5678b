package bindings

import (
	"errors"
	"fmt"

	"go.starlark.net/starlark"
)

// ResponseValue is the Starlark `resp` of the response phase
// (HTTPRespCall). Pooled like RequestValue.
type ResponseValue struct {
	message
	src Response

	headers *View

	status    int
	statusSet bool

	methods starlark.StringDict
}

var responseAttrNames = []string{"body", "headers", "id", "json", "set_body", "status", "text", "var"}

// NewResponseValue returns an empty response value with its methods bound.
func NewResponseValue() *ResponseValue {
	r := &ResponseValue{message: message{what: "response"}, headers: newView(respHeaders)}
	r.methods = r.message.builtins()
	return r
}

// Reset prepares r for a new call on src.
func (r *ResponseValue) Reset(src Response, limits Limits) {
	r.src = src
	r.message.reset(src, limits)
	r.headers.reset(src.Headers())
	r.status, r.statusSet = 0, false
}

// Release drops the references to the host response after a call.
func (r *ResponseValue) Release() {
	r.headers.reset(nil)
	r.src = nil
	r.message.release()
}

// hopHeaders are left out of the complete header list sent back: nginx
// frames the body itself, and a stale Content-Length would corrupt it.
var hopHeaders = []string{"connection", "content-length", "keep-alive", "transfer-encoding"}

// Finish records the response-phase result: the status if changed, the
// complete header list, and the body if set.
func (r *ResponseValue) Finish(d *Decision) {
	if r.statusSet {
		d.Status = r.status
	}
	start := len(d.Headers)
	d.Headers = r.headers.AppendAll(d.Headers)
	kept := d.Headers[:start]
	for _, kv := range d.Headers[start:] {
		if !isHop(kv.Name) {
			kept = append(kept, kv)
		}
	}
	d.Headers = kept
	if r.bodySet {
		d.Body, d.BodySet = r.body, true
	}
}

// HeaderEdits counts the header changes (set, add, delete) since Reset;
// comparing it before and after a handler tells whether that handler
// changed the headers.
func (r *ResponseValue) HeaderEdits() int { return r.headers.edits }

// CheckHeaderList returns an error when the header list Finish recorded
// in d cannot be sent: it is empty, which APISIX reads as "copy the
// upstream headers" (protocol.md §4.4), while the upstream sent a header
// that APISIX would then copy although the script removed it. Call it
// before Release.
func (r *ResponseValue) CheckHeaderList(d *Decision) error {
	if len(d.Headers) > 0 {
		return nil
	}
	for i, n := 0, r.headers.srcLen(); i < n; i++ {
		b, _, _ := r.headers.src.At(i)
		name := string(b)
		if !isHop(name) && !isDroppedRespHeader(name) {
			return fmt.Errorf("resp.headers: every header was removed, but APISIX reads an empty header list as \"keep the upstream headers\" and would still send %q", name)
		}
	}
	return nil
}

func isHop(name string) bool {
	for _, h := range hopHeaders {
		if len(name) == len(h) && asciiEqualFold(name, h) {
			return true
		}
	}
	return false
}

func asciiEqualFold(a, b string) bool {
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

func (r *ResponseValue) String() string        { return fmt.Sprintf("<response %d>", r.src.ID()) }
func (r *ResponseValue) Type() string          { return "response" }
func (r *ResponseValue) Freeze()               {}
func (r *ResponseValue) Truth() starlark.Bool  { return true }
func (r *ResponseValue) Hash() (uint32, error) { return 0, errors.New("unhashable: response") }
func (r *ResponseValue) AttrNames() []string   { return responseAttrNames }

func (r *ResponseValue) Attr(name string) (starlark.Value, error) {
	switch name {
	case "id":
		return starlark.MakeUint64(uint64(r.src.ID())), nil
	case "status":
		if r.statusSet {
			return starlark.MakeInt(r.status), nil
		}
		return starlark.MakeInt(r.src.Status()), nil
	case "headers":
		return r.headers, nil
	}
	if m, ok := r.methods[name]; ok {
		return m, nil
	}
	return nil, nil
}

// SetField implements `resp.status = 201`.
func (r *ResponseValue) SetField(name string, val starlark.Value) error {
	if name != "status" {
		if r.methods[name] != nil || name == "id" || name == "headers" {
			return fmt.Errorf("response.%s is read-only", name)
		}
		return starlark.NoSuchAttrError(fmt.Sprintf("response has no .%s field", name))
	}
	var status int
	if err := starlark.AsInt(val, &status); err != nil {
		return fmt.Errorf("response.status: got %s, want int", val.Type())
	}
	if status < 100 || status > 599 {
		return fmt.Errorf("response.status: got %d, want 100..599", status)
	}
	r.status, r.statusSet = status, true
	return nil
}

var (
	_ starlark.Value       = (*ResponseValue)(nil)
	_ starlark.HasSetField = (*ResponseValue)(nil)
)
