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
	src    Request
	limits Limits

	headers *View
	args    *View

	// memoized host values
	id, method, srcIP starlark.Value
	vars              map[string]starlark.Value

	path    string
	pathSet bool

	body      []byte
	bodyKnown bool // body holds the current body (fetched or set)
	bodySet   bool

	respHeaders []KV
	methods     starlark.StringDict
}

var requestAttrNames = []string{
	"args", "body", "headers", "id", "json", "method", "path",
	"set_body", "set_response_header", "src_ip", "text", "var",
}

// NewRequestValue returns an empty request value with its methods bound.
func NewRequestValue() *RequestValue {
	r := &RequestValue{headers: newView(reqHeaders), args: newView(reqArgs)}
	r.methods = starlark.StringDict{
		"var":                 starlark.NewBuiltin("var", r.varFn),
		"body":                starlark.NewBuiltin("body", r.bodyFn),
		"text":                starlark.NewBuiltin("text", r.textFn),
		"json":                starlark.NewBuiltin("json", r.jsonFn),
		"set_body":            starlark.NewBuiltin("set_body", r.setBody),
		"set_response_header": starlark.NewBuiltin("set_response_header", r.setResponseHeader),
	}
	return r
}

// Reset prepares r for a new call on src. Nothing of the previous call
// remains reachable from r.
func (r *RequestValue) Reset(src Request, limits Limits) {
	r.src, r.limits = src, limits
	r.headers.reset(src.Headers())
	r.args.reset(src.Args())
	r.id, r.method, r.srcIP = nil, nil, nil
	clear(r.vars)
	r.path, r.pathSet = "", false
	r.body, r.bodyKnown, r.bodySet = nil, false, false
	clear(r.respHeaders)
	r.respHeaders = r.respHeaders[:0]
}

// SetLimits changes the limits for the next handler of the chain.
func (r *RequestValue) SetLimits(l Limits) { r.limits = l }

// ResponseHeaders returns the headers set with set_response_header so
// far, in order. The caller must not modify the slice; it is valid until
// the next Reset or handler.
func (r *RequestValue) ResponseHeaders() []KV { return r.respHeaders }

// Release drops the references to the host request after a call.
func (r *RequestValue) Release() {
	r.headers.reset(nil)
	r.args.reset(nil)
	r.src = nil
	r.body = nil
	clear(r.vars)
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
	case strings.ContainsAny(p, "?"):
		return fmt.Errorf("request.path: %q contains '?'; set query arguments with req.args", p)
	case strings.ContainsAny(p, "\r\n\x00"):
		return fmt.Errorf("request.path: control character in %q", p)
	}
	return nil
}

func (r *RequestValue) varFn(_ *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	return fetchVar(r.src, &r.vars, b, args, kwargs)
}

// fetchVar implements var(name, default=None) with per-call memoization;
// absent answers are memoized too.
func fetchVar(f Fetcher, memo *map[string]starlark.Value, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var name string
	var def starlark.Value = starlark.None
	if err := starlark.UnpackArgs(b.Name(), args, kwargs, "name", &name, "default?", &def); err != nil {
		return nil, err
	}
	if name == "" {
		return nil, fmt.Errorf("%s: empty variable name", b.Name())
	}
	if v, ok := (*memo)[name]; ok {
		if v == nil {
			return def, nil
		}
		return v, nil
	}
	val, ok, err := f.Var(name)
	if err != nil {
		return nil, fmt.Errorf("%s(%q): %w", b.Name(), name, err)
	}
	if *memo == nil {
		*memo = make(map[string]starlark.Value)
	}
	if !ok {
		(*memo)[name] = nil
		return def, nil
	}
	v := starlark.String(val)
	(*memo)[name] = v
	return v, nil
}

// currentBody returns the body, asking the host once. The running
// script's cap applies even to a body an earlier script fetched or set.
func (r *RequestValue) currentBody(fn string) ([]byte, error) {
	if r.bodyKnown {
		return r.body, checkBodyCap(fn, "request", len(r.body), r.limits)
	}
	b, err := fetchBody(r.src, fn, "request", r.limits)
	if err != nil {
		return nil, err
	}
	r.body, r.bodyKnown = b, true
	return b, nil
}

// fetchBody asks the host for a body and copies it, enforcing the cap.
func fetchBody(f Fetcher, fn, what string, limits Limits) ([]byte, error) {
	b, _, err := f.Body()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", fn, err)
	}
	if err := checkBodyCap(fn, what, len(b), limits); err != nil {
		return nil, err
	}
	return append([]byte{}, b...), nil
}

// checkBodyCap returns an error when a body of n bytes exceeds the cap.
func checkBodyCap(fn, what string, n int, limits Limits) error {
	if limits.MaxBodyBytes > 0 && n > limits.MaxBodyBytes {
		return fmt.Errorf("%s: the %s body of %d bytes exceeds the limit of %d bytes (max_body_bytes)", fn, what, n, limits.MaxBodyBytes)
	}
	return nil
}

func (r *RequestValue) bodyFn(_ *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	if err := starlark.UnpackPositionalArgs(b.Name(), args, kwargs, 0); err != nil {
		return nil, err
	}
	body, err := r.currentBody(b.Name())
	if err != nil {
		return nil, err
	}
	return starlark.Bytes(body), nil
}

func (r *RequestValue) textFn(_ *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	if err := starlark.UnpackPositionalArgs(b.Name(), args, kwargs, 0); err != nil {
		return nil, err
	}
	body, err := r.currentBody(b.Name())
	if err != nil {
		return nil, err
	}
	return starlark.String(body), nil
}

func (r *RequestValue) jsonFn(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	if err := starlark.UnpackPositionalArgs(b.Name(), args, kwargs, 0); err != nil {
		return nil, err
	}
	body, err := r.currentBody(b.Name())
	if err != nil {
		return nil, err
	}
	return decodeBodyJSON(thread, b.Name(), body)
}

func decodeBodyJSON(thread *starlark.Thread, fn string, body []byte) (starlark.Value, error) {
	if len(body) == 0 {
		return nil, fmt.Errorf("%s: the body is empty", fn)
	}
	v, err := jsonDecode(thread, string(body))
	if err != nil {
		return nil, fmt.Errorf("%s: body is not valid JSON: %w", fn, err)
	}
	return v, nil
}

// newBody converts set_body's argument: str, bytes, or a dict/list
// encoded as JSON. An empty body cannot be expressed in the protocol.
func newBody(thread *starlark.Thread, fn string, v starlark.Value) ([]byte, error) {
	var out []byte
	switch x := v.(type) {
	case *starlark.Dict, *starlark.List:
		s, err := jsonEncode(thread, x)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", fn, err)
		}
		out = []byte(s)
	default:
		var err error
		if out, err = bodyBytes(fn, v, false); err != nil {
			return nil, fmt.Errorf("%s: got %s, want str, bytes, dict or list", fn, v.Type())
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s: an empty body cannot be sent: APISIX reads an empty body as \"unchanged\"", fn)
	}
	return out, nil
}

func (r *RequestValue) setBody(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var v starlark.Value
	if err := starlark.UnpackPositionalArgs(b.Name(), args, kwargs, 1, &v); err != nil {
		return nil, err
	}
	body, err := newBody(thread, b.Name(), v)
	if err != nil {
		return nil, err
	}
	r.body, r.bodyKnown, r.bodySet = body, true, true
	return starlark.None, nil
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
