package bindings

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"

	"go.starlark.net/starlark"
)

// RequestValue is the Starlark `req` of the request phase. One value is
// shared by every script of a chain, so later scripts see earlier changes.
// It is pooled: NewRequestValue once, then Reset for every call.
type RequestValue struct {
	message
	src Request

	headers *View
	args    *View

	// memoized host values
	id, method, srcIP starlark.Value

	path    string
	pathSet bool

	respHeaders []KV
	methods     starlark.StringDict
}

var requestAttrNames = []string{
	"args", "body", "headers", "id", "json", "method", "path",
	"set_body", "set_response_header", "src_ip", "text", "var",
}

// NewRequestValue returns an empty request value with its methods bound.
func NewRequestValue() *RequestValue {
	r := &RequestValue{message: message{what: "request"}, headers: newView(reqHeaders), args: newView(reqArgs)}
	r.methods = r.message.builtins()
	r.methods["set_response_header"] = starlark.NewBuiltin("set_response_header", r.setResponseHeader)
	return r
}

// Reset prepares r for a new call on src. Nothing of the previous call
// remains observable from r: the header and argument views keep the
// strings of a few earlier values (stringCache), but hand one out only
// for a value of equal content.
func (r *RequestValue) Reset(src Request, limits Limits) {
	r.src = src
	r.message.reset(src, limits)
	r.headers.reset(src.Headers())
	r.args.reset(src.Args())
	r.id, r.method, r.srcIP = nil, nil, nil
	r.path, r.pathSet = "", false
	clear(r.respHeaders)
	r.respHeaders = r.respHeaders[:0]
}

// ResponseHeaders returns the headers set with set_response_header so
// far, in order. The caller must not modify the slice; it is valid until
// the next Reset or handler.
func (r *RequestValue) ResponseHeaders() []KV { return r.respHeaders }

// Release drops the references to the host request after a call.
func (r *RequestValue) Release() {
	r.headers.reset(nil)
	r.args.reset(nil)
	r.src = nil
	r.message.release()
}

// Finish records the accumulated changes in d (which the caller Reset).
func (r *RequestValue) Finish(d *Decision) {
	d.Path, d.PathSet = r.path, r.pathSet
	d.ReqHeaders = r.headers.AppendChanges(d.ReqHeaders)
	d.Args = r.args.AppendChanges(d.Args)
	d.RespHeaders = append(d.RespHeaders, r.respHeaders...)
	if r.bodySet {
		d.Body, d.BodySet = r.body, true
	}
}

// FinishStop records a Stop, keeping headers set earlier with
// set_response_header ahead of the stop's own.
func (r *RequestValue) FinishStop(d *Decision, s *Stop) {
	d.Stop, d.Status, d.Body = true, s.Status, s.Body
	d.Headers = append(append(d.Headers, r.respHeaders...), s.Headers...)
}

func (r *RequestValue) String() string        { return fmt.Sprintf("<request %d>", r.src.ID()) }
func (r *RequestValue) Type() string          { return "request" }
func (r *RequestValue) Freeze()               {}
func (r *RequestValue) Truth() starlark.Bool  { return true }
func (r *RequestValue) Hash() (uint32, error) { return 0, errors.New("unhashable: request") }
func (r *RequestValue) AttrNames() []string   { return requestAttrNames }

func (r *RequestValue) Attr(name string) (starlark.Value, error) {
	switch name {
	case "id":
		if r.id == nil {
			r.id = starlark.MakeUint64(uint64(r.src.ID()))
		}
		return r.id, nil
	case "method":
		if r.method == nil {
			r.method = starlark.String(r.src.Method())
		}
		return r.method, nil
	case "path":
		if !r.pathSet {
			return starlark.String(r.src.Path()), nil
		}
		return starlark.String(r.path), nil
	case "src_ip":
		if r.srcIP == nil {
			r.srcIP = starlark.String(ipText(r.src.SrcIP()))
		}
		return r.srcIP, nil
	case "headers":
		return r.headers, nil
	case "args":
		return r.args, nil
	}
	if m, ok := r.methods[name]; ok {
		return m, nil
	}
	return nil, nil
}

func ipText(b []byte) string {
	a, ok := netip.AddrFromSlice(b)
	if !ok {
		return ""
	}
	return a.String()
}

// SetField implements `req.path = "/new"`.
func (r *RequestValue) SetField(name string, val starlark.Value) error {
	if name != "path" {
		if r.methods[name] != nil || name == "id" || name == "method" || name == "src_ip" || name == "headers" || name == "args" {
			return fmt.Errorf("request.%s is read-only", name)
		}
		return starlark.NoSuchAttrError(fmt.Sprintf("request has no .%s field", name))
	}
	s, ok := val.(starlark.String)
	if !ok {
		return fmt.Errorf("request.path: got %s, want str", val.Type())
	}
	if err := checkPath(string(s)); err != nil {
		return err
	}
	r.path, r.pathSet = string(s), true
	return nil
}

func checkPath(p string) error {
	switch {
	case !strings.HasPrefix(p, "/"):
		return fmt.Errorf("request.path: %q does not start with /", p)
	case strings.ContainsAny(p, "\r\n\x00"):
		return fmt.Errorf("request.path: control character in %q", p)
	}
	return nil
}

func (r *RequestValue) setResponseHeader(_ *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var name, value string
	if err := starlark.UnpackArgs(b.Name(), args, kwargs, "name", &name, "value", &value); err != nil {
		return nil, err
	}
	if err := checkHeaderName(b.Name(), name); err != nil {
		return nil, err
	}
	if err := checkHeaderValue(b.Name(), name, value); err != nil {
		return nil, err
	}
	r.respHeaders = append(r.respHeaders, KV{Name: name, Value: value, HasValue: true})
	return starlark.None, nil
}

// droppedRespHeaders are the names APISIX silently drops from a Rewrite's
// resp_headers (protocol.md §4.2 step 4).
var droppedRespHeaders = []string{
	"connection", "content-encoding", "content-language", "content-length",
	"content-location", "content-type", "location", "server",
	"transfer-encoding", "www-authenticate",
}

// CheckRewriteRespHeaders returns an error naming the first response
// header that APISIX would drop from a Rewrite.
func CheckRewriteRespHeaders(list []KV) error {
	for _, kv := range list {
		if isDroppedRespHeader(kv.Name) {
			return fmt.Errorf("set_response_header: APISIX drops %q from the response of a request that continues upstream; set it with respond(headers=...) or in on_response", kv.Name)
		}
	}
	return nil
}

func isDroppedRespHeader(name string) bool {
	for _, d := range droppedRespHeaders {
		if strings.EqualFold(name, d) {
			return true
		}
	}
	return false
}

var (
	_ starlark.Value       = (*RequestValue)(nil)
	_ starlark.HasSetField = (*RequestValue)(nil)
)
