package authoring

import (
	"errors"
	"fmt"
	"strings"
	"time"

	libtime "go.starlark.net/lib/time"
	"go.starlark.net/starlark"

	"github.com/scriptrunner/scriptrunner/bindings"
)

// Starlark values of test files: the request and response descriptions
// t.request and t.response build, and the result t.run returns. They are
// immutable once built.

// requestValue is a Request built by t.request.
type requestValue struct{ r *Request }

var requestValueAttrs = []string{"args", "body", "headers", "id", "method", "path", "src_ip", "vars"}

func (v *requestValue) String() string {
	return fmt.Sprintf("test_request(%s %s)", orDefault(v.r.Method, "GET"), orDefault(v.r.Path, "/"))
}
func (v *requestValue) Type() string          { return "test_request" }
func (v *requestValue) Freeze()               {}
func (v *requestValue) Truth() starlark.Bool  { return true }
func (v *requestValue) Hash() (uint32, error) { return 0, errors.New("unhashable: test_request") }
func (v *requestValue) AttrNames() []string   { return requestValueAttrs }

func (v *requestValue) Attr(name string) (starlark.Value, error) {
	r := v.r
	switch name {
	case "id":
		return starlark.MakeUint64(uint64(orDefault(r.ID, 1))), nil
	case "method":
		return starlark.String(strings.ToUpper(orDefault(r.Method, "GET"))), nil
	case "path":
		return starlark.String(orDefault(r.Path, "/")), nil
	case "src_ip":
		return starlark.String(orDefault(r.SrcIP, "127.0.0.1")), nil
	case "headers":
		return pairList(r.Headers), nil
	case "args":
		return pairList(r.Args), nil
	case "body":
		return bodyValue(r.Body), nil
	case "vars":
		return varsDict(r.Vars), nil
	}
	return nil, nil
}

// responseValue is a Response built by t.response.
type responseValue struct{ r *Response }

var responseValueAttrs = []string{"body", "headers", "id", "status", "vars"}

func (v *responseValue) String() string {
	return fmt.Sprintf("test_response(%d)", orDefault(v.r.Status, 200))
}
func (v *responseValue) Type() string          { return "test_response" }
func (v *responseValue) Freeze()               {}
func (v *responseValue) Truth() starlark.Bool  { return true }
func (v *responseValue) Hash() (uint32, error) { return 0, errors.New("unhashable: test_response") }
func (v *responseValue) AttrNames() []string   { return responseValueAttrs }

func (v *responseValue) Attr(name string) (starlark.Value, error) {
	r := v.r
	switch name {
	case "id":
		return starlark.MakeUint64(uint64(orDefault(r.ID, 1))), nil
	case "status":
		return starlark.MakeInt(orDefault(r.Status, 200)), nil
	case "headers":
		return pairList(r.Headers), nil
	case "body":
		return bodyValue(r.Body), nil
	case "vars":
		return varsDict(r.Vars), nil
	}
	return nil, nil
}

func pairList(p Pairs) *starlark.List {
	out := make([]starlark.Value, len(p))
	for i, kv := range p {
		var v starlark.Value = starlark.None
		if !kv.NoValue {
			v = starlark.String(kv.Value)
		}
		out[i] = starlark.Tuple{starlark.String(kv.Name), v}
	}
	l := starlark.NewList(out)
	l.Freeze()
	return l
}

func bodyValue(b *Body) starlark.Value {
	if b == nil {
		return starlark.None
	}
	return starlark.String(*b)
}

func varsDict(vars map[string]string) *starlark.Dict {
	d := starlark.NewDict(len(vars))
	for k, v := range vars {
		d.SetKey(starlark.String(k), starlark.String(v))
	}
	d.Freeze()
	return d
}

// resultValue is what t.run and t.run_response return.
type resultValue struct {
	res     *Result
	headers []bindings.KV // the list .headers, .header and .header_all read
	attrs   starlark.StringDict
}

var resultAttrs = []string{
	"action", "args", "body", "error", "extra_info", "header", "header_all",
	"headers", "json", "logs", "path", "phase", "resp_headers", "status", "steps",
}

func newResultValue(res *Result, logs []string) *resultValue {
	d := &res.Decision
	v := &resultValue{res: res, headers: d.Headers}
	if res.Phase == "request" && !d.Stop {
		v.headers = d.ReqHeaders
	}
	v.attrs = starlark.StringDict{
		"phase":        starlark.String(res.Phase),
		"action":       starlark.String(res.Action()),
		"status":       v.status(),
		"headers":      kvDict(v.headers, true),
		"args":         kvDict(d.Args, false),
		"resp_headers": kvDict(d.RespHeaders, true),
		"body":         starlark.None,
		"path":         starlark.None,
		"steps":        starlark.MakeUint64(res.Steps),
		"extra_info":   lookupList(res.Lookups),
		"error":        starlark.None,
		"logs":         stringList(logs),
		"header":       starlark.NewBuiltin("header", v.header),
		"header_all":   starlark.NewBuiltin("header_all", v.headerAll),
		"json":         starlark.NewBuiltin("json", v.json),
	}
	if d.Stop || d.BodySet {
		v.attrs["body"] = starlark.String(d.Body)
	}
	if d.PathSet {
		v.attrs["path"] = starlark.String(d.Path)
	}
	if msg := res.Error(); msg != "" {
		v.attrs["error"] = starlark.String(msg)
	}
	v.attrs.Freeze()
	return v
}

// status is the status the client gets: a stop's, or in the response
// phase the changed or upstream status; None for a request that goes on.
func (v *resultValue) status() starlark.Value {
	d := &v.res.Decision
	switch {
	case d.Stop:
		return starlark.MakeInt(d.Status)
	case v.res.Phase == "response" && d.Status != 0:
		return starlark.MakeInt(d.Status)
	case v.res.Phase == "response":
		return starlark.MakeInt(v.res.Upstream)
	}
	return starlark.None
}

func (v *resultValue) String() string {
	return fmt.Sprintf("result(%s %s)", v.res.Phase, v.res.Action())
}
func (v *resultValue) Type() string          { return "result" }
func (v *resultValue) Freeze()               {}
func (v *resultValue) Truth() starlark.Bool  { return true }
func (v *resultValue) Hash() (uint32, error) { return 0, errors.New("unhashable: result") }
func (v *resultValue) AttrNames() []string   { return resultAttrs }

func (v *resultValue) Attr(name string) (starlark.Value, error) { return v.attrs[name], nil }

// header(name) is the first value of a header (names are
// case-insensitive), or None.
func (v *resultValue) header(_ *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var name string
	if err := starlark.UnpackPositionalArgs(b.Name(), args, kwargs, 1, &name); err != nil {
		return nil, err
	}
	for _, kv := range v.headers {
		if strings.EqualFold(kv.Name, name) && kv.HasValue {
			return starlark.String(kv.Value), nil
		}
	}
	return starlark.None, nil
}

// header_all(name) lists every value of a header.
func (v *resultValue) headerAll(_ *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var name string
	if err := starlark.UnpackPositionalArgs(b.Name(), args, kwargs, 1, &name); err != nil {
		return nil, err
	}
	var out []starlark.Value
	for _, kv := range v.headers {
		if strings.EqualFold(kv.Name, name) && kv.HasValue {
			out = append(out, starlark.String(kv.Value))
		}
	}
	return starlark.NewList(out), nil
}

// json() decodes the body as JSON.
func (v *resultValue) json(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	if err := starlark.UnpackPositionalArgs(b.Name(), args, kwargs, 0); err != nil {
		return nil, err
	}
	body, ok := v.attrs["body"].(starlark.String)
	if !ok {
		return nil, fmt.Errorf("%s: the result has no body", b.Name())
	}
	out, err := bindings.DecodeJSON(thread, string(body))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", b.Name(), err)
	}
	return out, nil
}

// kvDict maps each name (lower-cased when fold) to its value: a str, a
// list of str when the name repeats, None for a deletion.
func kvDict(list []bindings.KV, fold bool) *starlark.Dict {
	d := starlark.NewDict(len(list))
	for _, kv := range list {
		name := kv.Name
		if fold {
			name = strings.ToLower(name)
		}
		key := starlark.String(name)
		var val starlark.Value = starlark.None
		if kv.HasValue {
			val = starlark.String(kv.Value)
		}
		prev, found, _ := d.Get(key)
		switch p := prev.(type) {
		case nil:
		case *starlark.List:
			p.Append(val)
			continue
		default:
			if found {
				val = starlark.NewList([]starlark.Value{p, val})
			}
		}
		d.SetKey(key, val)
	}
	d.Freeze()
	return d
}

func lookupList(lookups []Lookup) *starlark.List {
	out := make([]starlark.Value, len(lookups))
	for i, l := range lookups {
		out[i] = starlark.Tuple{starlark.String(l.Kind), starlark.String(l.Name)}
	}
	l := starlark.NewList(out)
	l.Freeze()
	return l
}

func stringList(lines []string) *starlark.List {
	out := make([]starlark.Value, len(lines))
	for i, s := range lines {
		out[i] = starlark.String(s)
	}
	l := starlark.NewList(out)
	l.Freeze()
	return l
}

// --- from Starlark arguments ---

// toPairs converts headers= or args=: a dict of name to str, list of str
// or (noValue only) None; or a list of (name, value) pairs.
func toPairs(what string, v starlark.Value, noValue bool) (Pairs, error) {
	var out Pairs
	add := func(name, val starlark.Value) error {
		n, ok := starlark.AsString(name)
		if !ok {
			return fmt.Errorf("%s: got a %s name, want str", what, name.Type())
		}
		kvs, err := entryValues(what, n, val, noValue)
		out = append(out, kvs...)
		return err
	}
	switch x := v.(type) {
	case starlark.NoneType:
		return nil, nil
	case *starlark.Dict:
		for k, val := range starlark.Entries(x) {
			if err := add(k, val); err != nil {
				return nil, err
			}
		}
		return out, nil
	case starlark.Iterable:
		for e := range starlark.Elements(x) {
			pair, ok := e.(starlark.Indexable)
			if _, isStr := e.(starlark.String); isStr || !ok || pair.Len() < 1 || pair.Len() > 2 {
				return nil, fmt.Errorf("%s: got %s, want (name, value) pairs", what, e)
			}
			var val starlark.Value = starlark.None
			if pair.Len() == 2 {
				val = pair.Index(1)
			}
			if err := add(pair.Index(0), val); err != nil {
				return nil, err
			}
		}
		return out, nil
	}
	return nil, fmt.Errorf("%s: got %s, want a dict or a list of (name, value) pairs", what, v.Type())
}

func entryValues(what, name string, v starlark.Value, noValue bool) ([]KV, error) {
	switch x := v.(type) {
	case starlark.String:
		return []KV{{Name: name, Value: string(x)}}, nil
	case starlark.NoneType:
		if noValue {
			return []KV{{Name: name, NoValue: true}}, nil
		}
	case *starlark.List, starlark.Tuple:
		var out []KV
		for e := range starlark.Elements(x.(starlark.Iterable)) {
			s, ok := starlark.AsString(e)
			if !ok {
				return nil, fmt.Errorf("%s[%q]: got a list holding %s, want str", what, name, e.Type())
			}
			out = append(out, KV{Name: name, Value: s})
		}
		return out, nil
	}
	want := "str or list of str"
	if noValue {
		want += " or None"
	}
	return nil, fmt.Errorf("%s[%q]: got %s, want %s", what, name, v.Type(), want)
}

// toBody converts body=: None, str, bytes, or a dict or list sent as
// JSON.
func toBody(thread *starlark.Thread, v starlark.Value) (*Body, error) {
	var b Body
	switch x := v.(type) {
	case starlark.NoneType:
		return nil, nil
	case starlark.String:
		b = Body(x)
	case starlark.Bytes:
		b = Body(x)
	case *starlark.Dict, *starlark.List:
		s, err := bindings.EncodeJSON(thread, x)
		if err != nil {
			return nil, fmt.Errorf("body: %w", err)
		}
		b = Body(s)
	default:
		return nil, fmt.Errorf("body: got %s, want str, bytes, dict or list", v.Type())
	}
	return &b, nil
}

// toVars converts vars=: a dict of name to str (None: absent).
func toVars(v starlark.Value) (map[string]string, error) {
	if v == starlark.None {
		return nil, nil
	}
	d, ok := v.(*starlark.Dict)
	if !ok {
		return nil, fmt.Errorf("vars: got %s, want a dict", v.Type())
	}
	out := make(map[string]string, d.Len())
	for k, val := range starlark.Entries(d) {
		name, ok1 := starlark.AsString(k)
		s, ok2 := starlark.AsString(val)
		if val == starlark.None {
			continue
		}
		if !ok1 || !ok2 {
			return nil, fmt.Errorf("vars: got %s: %s, want str: str", k.Type(), val.Type())
		}
		out[name] = s
	}
	return out, nil
}

// toTime converts set_time's or now='s argument: an RFC 3339 str, Unix
// seconds (int or float), a time.time, or None for the real clock.
func toTime(v starlark.Value) (time.Time, error) {
	switch x := v.(type) {
	case starlark.NoneType:
		return time.Time{}, nil
	case starlark.String:
		t, err := time.Parse(time.RFC3339Nano, string(x))
		if err != nil {
			return time.Time{}, fmt.Errorf("got %s, want RFC 3339 time such as \"2026-01-02T03:04:05Z\"", x)
		}
		return t, nil
	case starlark.Int:
		sec, ok := x.Int64()
		if !ok {
			return time.Time{}, fmt.Errorf("got %s, want Unix seconds", x)
		}
		return time.Unix(sec, 0).UTC(), nil
	case starlark.Float:
		return time.UnixMilli(int64(float64(x) * 1000)).UTC(), nil
	case libtime.Time:
		return time.Time(x), nil
	}
	return time.Time{}, fmt.Errorf("got %s, want an RFC 3339 str, Unix seconds or a time.time", v.Type())
}

var (
	_ starlark.HasAttrs = (*requestValue)(nil)
	_ starlark.HasAttrs = (*responseValue)(nil)
	_ starlark.HasAttrs = (*resultValue)(nil)
)
