package bindings

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"go.starlark.net/starlark"
)

// Stop is the value respond() returns: a complete response that ends the
// chain. It is immutable.
type Stop struct {
	Status  int
	Headers []KV
	Body    []byte

	args respondArgs // respond()'s arguments, unpacked in place
}

// respondArgs holds respond()'s arguments. They are unpacked into the Stop
// being built, so that UnpackArgs' escaping out-pointers cost no
// allocation of their own.
type respondArgs struct {
	status               int
	body, jsonv, headers starlark.Value
}

var stopAttrNames = []string{"body", "headers", "status"}

func (s *Stop) String() string        { return fmt.Sprintf("respond(%d)", s.Status) }
func (s *Stop) Type() string          { return "response" }
func (s *Stop) Freeze()               {}
func (s *Stop) Truth() starlark.Bool  { return true }
func (s *Stop) Hash() (uint32, error) { return 0, fmt.Errorf("unhashable: %s", s.Type()) }
func (s *Stop) AttrNames() []string   { return stopAttrNames }

func (s *Stop) Attr(name string) (starlark.Value, error) {
	switch name {
	case "status":
		return starlark.MakeInt(s.Status), nil
	case "body":
		return starlark.String(s.Body), nil
	case "headers":
		d := starlark.NewDict(len(s.Headers))
		for _, kv := range s.Headers {
			d.SetKey(starlark.String(kv.Name), starlark.String(kv.Value))
		}
		d.Freeze()
		return d, nil
	}
	return nil, nil
}

// respond(status, body=None, json=None, headers=None)
func respond(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	s := &Stop{}
	a := &s.args
	a.body, a.headers = starlark.None, starlark.None
	if err := starlark.UnpackArgs(b.Name(), args, kwargs,
		"status", &a.status, "body?", &a.body, "json?", &a.jsonv, "headers?", &a.headers); err != nil {
		return nil, err
	}
	status, body, jsonv, headers := a.status, a.body, a.jsonv, a.headers
	s.args = respondArgs{}
	if status < 100 || status > 599 {
		return nil, fmt.Errorf("respond: got status %d, want 100..599", status)
	}
	s.Status = status
	var err error
	if s.Headers, err = headerList(b.Name(), headers); err != nil {
		return nil, err
	}
	switch {
	case jsonv != nil && body != starlark.None:
		return nil, fmt.Errorf("respond: body and json are exclusive")
	case jsonv != nil:
		enc, err := jsonEncode(thread, jsonv)
		if err != nil {
			return nil, fmt.Errorf("respond: json: %w", err)
		}
		s.Body = []byte(enc)
		if !hasHeader(s.Headers, "content-type") {
			s.Headers = append(s.Headers, KV{Name: "content-type", Value: "application/json", HasValue: true})
		}
	default:
		if s.Body, err = bodyBytes(b.Name(), body, true); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// bodyBytes converts str, bytes (and None when allowNone) to bytes.
func bodyBytes(fn string, v starlark.Value, allowNone bool) ([]byte, error) {
	switch x := v.(type) {
	case starlark.String:
		return []byte(x), nil
	case starlark.Bytes:
		return []byte(x), nil
	case starlark.NoneType:
		if allowNone {
			return nil, nil
		}
	}
	return nil, fmt.Errorf("%s: got body of type %s, want str or bytes", fn, v.Type())
}

// headerList converts a dict of str or list-of-str values to KVs, in
// sorted name order so that the output is deterministic.
func headerList(fn string, v starlark.Value) ([]KV, error) {
	if v == starlark.None {
		return nil, nil
	}
	d, ok := v.(*starlark.Dict)
	if !ok {
		return nil, fmt.Errorf("%s: got headers of type %s, want dict", fn, v.Type())
	}
	keys := d.Keys()
	sort.Slice(keys, func(i, j int) bool {
		a, _ := starlark.AsString(keys[i])
		b, _ := starlark.AsString(keys[j])
		return a < b
	})
	out := make([]KV, 0, len(keys))
	for _, k := range keys {
		name, ok := starlark.AsString(k)
		if !ok {
			return nil, fmt.Errorf("%s: got header name of type %s, want str", fn, k.Type())
		}
		if err := checkHeaderName(fn, name); err != nil {
			return nil, err
		}
		val, _, _ := d.Get(k)
		var vals []starlark.Value
		switch x := val.(type) {
		case *starlark.List, starlark.Tuple:
			vals = slices.Collect(starlark.Elements(x.(starlark.Iterable)))
		default:
			vals = []starlark.Value{val}
		}
		for _, e := range vals {
			s, ok := e.(starlark.String)
			if !ok {
				return nil, fmt.Errorf("%s: header %q: got value of type %s, want str", fn, name, e.Type())
			}
			if err := checkHeaderValue(fn, name, string(s)); err != nil {
				return nil, err
			}
			out = append(out, KV{Name: name, Value: string(s), HasValue: true})
		}
	}
	return out, nil
}

func hasHeader(list []KV, lower string) bool {
	for _, kv := range list {
		if strings.EqualFold(kv.Name, lower) {
			return true
		}
	}
	return false
}

var (
	_ starlark.Value    = (*Stop)(nil)
	_ starlark.HasAttrs = (*Stop)(nil)
)
