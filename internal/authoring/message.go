package authoring

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"net/url"
	"strings"

	"github.com/scriptrunner/scriptrunner/bindings"
)

// KV is one name/value pair. NoValue marks an entry without a value: a
// query argument without '=' in a request, a deletion in a decision. In
// JSON it is {"name": N, "value": V}, without "value" when NoValue.
type KV struct {
	Name    string
	Value   string
	NoValue bool
}

type jsonKV struct {
	Name  string  `json:"name"`
	Value *string `json:"value,omitempty"`
}

// MarshalJSON renders kv as {"name": …, "value": …}, leaving HTML
// characters unescaped so that values read as they are.
func (kv KV) MarshalJSON() ([]byte, error) {
	j := jsonKV{Name: kv.Name}
	if !kv.NoValue {
		j.Value = &kv.Value
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(j); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}

// Pairs is an ordered list of entries. Besides a JSON array of
// {"name","value"} objects (the form of the end-to-end cases) it accepts an
// array of [name, value] pairs and an object whose values are a string, a
// list of strings (repeated entries) or null (an entry without a value);
// the object's key order is kept.
type Pairs []KV

// UnmarshalJSON implements the forms described on Pairs.
func (p *Pairs) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	switch {
	case bytes.Equal(b, []byte("null")):
		*p = nil
		return nil
	case len(b) > 0 && b[0] == '{':
		return p.unmarshalObject(b)
	}
	var raw []json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		return errors.New("want an array of {\"name\", \"value\"} objects or an object of name: value")
	}
	out := make(Pairs, 0, len(raw))
	for i, r := range raw {
		kv, err := unmarshalEntry(r)
		if err != nil {
			return fmt.Errorf("entry %d: %w", i, err)
		}
		out = append(out, kv)
	}
	*p = out
	return nil
}

// unmarshalEntry decodes {"name": N, "value": V} or [N, V] or [N].
func unmarshalEntry(r json.RawMessage) (KV, error) {
	var pair []*string
	if err := json.Unmarshal(r, &pair); err == nil {
		if len(pair) < 1 || len(pair) > 2 || pair[0] == nil {
			return KV{}, errors.New("want [name, value]")
		}
		if len(pair) == 1 || pair[1] == nil {
			return KV{Name: *pair[0], NoValue: true}, nil
		}
		return KV{Name: *pair[0], Value: *pair[1]}, nil
	}
	var j jsonKV
	d := json.NewDecoder(bytes.NewReader(r))
	d.DisallowUnknownFields()
	if err := d.Decode(&j); err != nil {
		return KV{}, errors.New("want {\"name\": str, \"value\": str}")
	}
	if j.Value == nil {
		return KV{Name: j.Name, NoValue: true}, nil
	}
	return KV{Name: j.Name, Value: *j.Value}, nil
}

// unmarshalObject decodes {name: value, …} keeping the key order.
func (p *Pairs) unmarshalObject(b []byte) error {
	d := json.NewDecoder(bytes.NewReader(b))
	if _, err := d.Token(); err != nil { // {
		return err
	}
	var out Pairs
	for d.More() {
		tok, err := d.Token()
		if err != nil {
			return err
		}
		name := tok.(string)
		var v any
		if err := d.Decode(&v); err != nil {
			return err
		}
		kvs, err := objectValues(name, v)
		if err != nil {
			return err
		}
		out = append(out, kvs...)
	}
	*p = out
	return nil
}

func objectValues(name string, v any) ([]KV, error) {
	switch x := v.(type) {
	case nil:
		return []KV{{Name: name, NoValue: true}}, nil
	case string:
		return []KV{{Name: name, Value: x}}, nil
	case []any:
		out := make([]KV, 0, len(x))
		for _, e := range x {
			s, ok := e.(string)
			if !ok {
				return nil, fmt.Errorf("%s: got a list holding %T, want strings", name, e)
			}
			out = append(out, KV{Name: name, Value: s})
		}
		return out, nil
	}
	return nil, fmt.Errorf("%s: got %T, want a string, a list of strings or null", name, v)
}

// Body is a message body. In JSON a string is the body itself; any other
// JSON value (an object, say) is the body encoded as compact JSON text.
type Body []byte

// UnmarshalJSON implements the forms described on Body.
func (b *Body) UnmarshalJSON(data []byte) error {
	var s string
	if err := json.Unmarshal(data, &s); err == nil {
		*b = Body(s)
		return nil
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, data); err != nil {
		return err
	}
	*b = buf.Bytes()
	return nil
}

// Request describes an HTTP request as APISIX passes it to the runner,
// plus what APISIX would answer to ExtraInfo lookups (Body, Vars). Zero
// fields select the defaults in their comments.
type Request struct {
	ID     uint32 `json:"id,omitempty"`     // default 1
	Method string `json:"method,omitempty"` // default "GET"
	// Path is the path without the query; default "/". A query written
	// after '?' is split into Args (decoded) when Args is empty.
	Path    string `json:"path,omitempty"`
	SrcIP   string `json:"src_ip,omitempty"` // default "127.0.0.1"
	Headers Pairs  `json:"headers,omitempty"`
	Args    Pairs  `json:"args,omitempty"`
	// Body is the request body; nil means APISIX has none.
	Body *Body `json:"body,omitempty"`
	// Vars are the nginx variables APISIX knows; others are absent.
	Vars map[string]string `json:"vars,omitempty"`
}

// Response describes an upstream response in the response phase
// (HTTPRespCall) and APISIX's answers to ExtraInfo lookups.
type Response struct {
	ID      uint32            `json:"id,omitempty"`     // default 1
	Status  int               `json:"status,omitempty"` // default 200
	Headers Pairs             `json:"headers,omitempty"`
	Body    *Body             `json:"body,omitempty"` // nil: no body
	Vars    map[string]string `json:"vars,omitempty"`
}

// DecodeRequest reads a Request as JSON, rejecting unknown fields.
func DecodeRequest(r io.Reader) (*Request, error) {
	var req Request
	if err := decodeStrict(r, &req); err != nil {
		return nil, fmt.Errorf("request: %w", err)
	}
	return &req, nil
}

// DecodeResponse reads a Response as JSON, rejecting unknown fields.
func DecodeResponse(r io.Reader) (*Response, error) {
	var resp Response
	if err := decodeStrict(r, &resp); err != nil {
		return nil, fmt.Errorf("response: %w", err)
	}
	return &resp, nil
}

func decodeStrict(r io.Reader, v any) error {
	d := json.NewDecoder(r)
	d.DisallowUnknownFields()
	if err := d.Decode(v); err != nil && !errors.Is(err, io.EOF) {
		return err
	}
	return nil
}

// Lookup is one ExtraInfo question the engine asked the host: Kind "var"
// with the variable's Name, "req_body" or "resp_body".
type Lookup struct {
	Kind string `json:"kind"`
	Name string `json:"name,omitempty"`
}

// Lookup kinds, spelled as the protocol's ExtraInfo kinds.
const (
	KindVar      = "var"
	KindReqBody  = "req_body"
	KindRespBody = "resp_body"
)

// entries adapts Pairs to bindings.Entries.
type entries []KV

func (e entries) Len() int { return len(e) }
func (e entries) At(i int) ([]byte, []byte, bool) {
	return []byte(e[i].Name), []byte(e[i].Value), !e[i].NoValue
}

// fetcher answers var() and body() from the description and records each
// question, as APISIX would see it.
type fetcher struct {
	vars     map[string]string
	body     *Body
	bodyKind string
	lookups  []Lookup
}

func (f *fetcher) Var(name string) ([]byte, bool, error) {
	f.lookups = append(f.lookups, Lookup{Kind: KindVar, Name: name})
	v, ok := f.vars[name]
	return []byte(v), ok, nil
}

func (f *fetcher) Body() ([]byte, bool, error) {
	f.lookups = append(f.lookups, Lookup{Kind: f.bodyKind})
	if f.body == nil {
		return nil, false, nil
	}
	return *f.body, true, nil
}

// hostRequest is a Request as bindings.Request.
type hostRequest struct {
	fetcher
	id      uint32
	method  string
	path    []byte
	srcIP   []byte
	headers entries
	args    entries
}

func (h *hostRequest) ID() uint32                { return h.id }
func (h *hostRequest) Method() string            { return h.method }
func (h *hostRequest) Path() []byte              { return h.path }
func (h *hostRequest) SrcIP() []byte             { return h.srcIP }
func (h *hostRequest) Headers() bindings.Entries { return h.headers }
func (h *hostRequest) Args() bindings.Entries    { return h.args }

// host validates r and returns it as the engine reads a request, with
// the defaults applied.
func (r *Request) host() (*hostRequest, error) {
	h := &hostRequest{
		fetcher: fetcher{vars: r.Vars, body: r.Body, bodyKind: KindReqBody},
		id:      orDefault(r.ID, 1),
		method:  strings.ToUpper(orDefault(r.Method, "GET")),
		headers: entries(r.Headers),
		args:    entries(r.Args),
	}
	path := orDefault(r.Path, "/")
	if before, query, ok := strings.Cut(path, "?"); ok {
		if len(r.Args) > 0 {
			return nil, fmt.Errorf("request: path %q has a query and args are given too; use one", path)
		}
		args, err := parseQuery(query)
		if err != nil {
			return nil, fmt.Errorf("request: path %q: %w", path, err)
		}
		path, h.args = before, args
	}
	if !strings.HasPrefix(path, "/") {
		return nil, fmt.Errorf("request: path %q does not start with /", path)
	}
	h.path = []byte(path)
	ip, err := netip.ParseAddr(orDefault(r.SrcIP, "127.0.0.1"))
	if err != nil {
		return nil, fmt.Errorf("request: src_ip: %w", err)
	}
	h.srcIP = ip.AsSlice()
	return h, nil
}

// parseQuery splits a query string into arguments, decoding names and
// values; "flag" without '=' has no value, as nginx reports it.
func parseQuery(q string) (entries, error) {
	var out entries
	for part := range strings.SplitSeq(q, "&") {
		if part == "" {
			continue
		}
		name, value, hasValue := strings.Cut(part, "=")
		n, err := url.QueryUnescape(name)
		if err != nil {
			return nil, err
		}
		v, err := url.QueryUnescape(value)
		if err != nil {
			return nil, err
		}
		out = append(out, KV{Name: n, Value: v, NoValue: !hasValue})
	}
	return out, nil
}

// hostResponse is a Response as bindings.Response.
type hostResponse struct {
	fetcher
	id      uint32
	status  int
	headers entries
}

func (h *hostResponse) ID() uint32                { return h.id }
func (h *hostResponse) Status() int               { return h.status }
func (h *hostResponse) Headers() bindings.Entries { return h.headers }

func (r *Response) host() (*hostResponse, error) {
	status := orDefault(r.Status, 200)
	if status < 100 || status > 599 {
		return nil, fmt.Errorf("response: status %d: want 100..599", status)
	}
	return &hostResponse{
		fetcher: fetcher{vars: r.Vars, body: r.Body, bodyKind: KindRespBody},
		id:      orDefault(r.ID, 1),
		status:  status,
		headers: entries(r.Headers),
	}, nil
}

func orDefault[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

var (
	_ bindings.Entries  = entries(nil)
	_ bindings.Request  = (*hostRequest)(nil)
	_ bindings.Response = (*hostResponse)(nil)
)
