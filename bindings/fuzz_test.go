package bindings

import (
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"

	"go.starlark.net/starlark"
)

// FuzzHeaders applies a random sequence of set/add/delete/get/get_all to
// a View over random host entries and to a reference model, and compares
// every read, get_all of every name, len, keys, AppendAll and
// AppendChanges.
//
// Input layout: kind byte, source count byte, 3 bytes per source entry
// (name, case mask, value), then 4 bytes per operation (op, name, case
// mask, value).
func FuzzHeaders(f *testing.F) {
	f.Add([]byte{0, 3, 0, 0, 1, 1, 1, 2, 0, 3, 3, 0, 0, 0, 1, 1, 2, 0, 2, 0})
	f.Add([]byte{1, 4, 0, 0, 0x81, 0, 1, 1, 4, 0, 2, 1, 2, 3, 1, 0, 0, 5, 2, 4, 0, 0, 3, 0})
	f.Add([]byte{2, 5, 2, 0, 1, 2, 0xff, 2, 0, 0, 3, 1, 1, 4, 0, 2, 2, 1, 0, 4, 2, 2, 0, 3, 0, 5, 1, 1})
	f.Add([]byte{0, 2, 4, 0, 1, 5, 0, 2, 3, 5, 0, 0, 4, 5, 0, 0, 2, 4, 0, 0, 0, 4, 1, 1})
	// Regression: get and delete of "\u212a" (Kelvin sign) must not match
	// "k", and delete must reject a name that is not a token.
	f.Add([]byte{0, 1, 4, 0, 1, 3, 5, 0, 0, 2, 5, 0, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) < 2 {
			return
		}
		kind := viewKind(data[0] % 3)
		n := int(data[1] % 9)
		data = data[2:]
		var src fakeEntries
		for ; n > 0 && len(data) >= 3; n-- {
			e := entry{name: fuzzName(data[0], data[1]), value: fuzzValue(data[2])}
			if kind == reqArgs && data[2]&0x80 != 0 {
				e.value, e.noValue = "", true
			}
			src = append(src, e)
			data = data[3:]
		}
		checkHeaderOps(t, kind, src, data)
	})
}

var (
	fuzzNames  = []string{"x-a", "x-b", "set-cookie", "host", "k", "\u212a"}
	fuzzValues = []string{"", "1", "two", "v 3", "a=b; Path=/", "\xff"}
)

// fuzzName picks a name and flips the case of its letters per mask bit.
func fuzzName(i, mask byte) string {
	b := []byte(fuzzNames[int(i)%len(fuzzNames)])
	for j := range b {
		if mask&(1<<(j%8)) != 0 && ('a' <= b[j] && b[j] <= 'z' || 'A' <= b[j] && b[j] <= 'Z') {
			b[j] ^= 0x20
		}
	}
	return string(b)
}

func fuzzValue(i byte) string { return fuzzValues[int(i&0x7f)%len(fuzzValues)] }

func checkHeaderOps(t *testing.T, kind viewKind, src fakeEntries, ops []byte) {
	v := newView(kind)
	v.reset(src)
	m := newHeaderModel(kind, src)
	thread := &starlark.Thread{Name: "fuzz"}
	call := func(method string, args ...starlark.Value) (starlark.Value, error) {
		return starlark.Call(thread, v.method(method), starlark.Tuple(args), nil)
	}
	var trace []string
	for ; len(ops) >= 4; ops = ops[4:] {
		name, value := fuzzName(ops[1], ops[2]), fuzzValue(ops[3])
		op := []string{"set", "add", "delete", "get", "get_all"}[ops[0]%5]
		trace = append(trace, fmt.Sprintf("%s(%q, %q)", op, name, value))
		var got starlark.Value
		var err error
		switch op {
		case "set", "add":
			got, err = call(op, starlark.String(name), starlark.String(value))
		default:
			got, err = call(op, starlark.String(name))
		}
		want, wantOK := m.apply(op, name, value)
		if (err == nil) != wantOK {
			t.Fatalf("%s: got error %v, want ok=%v", strings.Join(trace, "; "), err, wantOK)
		}
		if err == nil && want != nil && got.String() != want.String() {
			t.Fatalf("%s: got %s, want %s", strings.Join(trace, "; "), got, want)
		}
	}
	where := strings.Join(trace, "; ")
	for _, name := range fuzzNames {
		for _, mask := range []byte{0, 0xff} {
			name := caseFlip(name, mask)
			got, err := call("get_all", starlark.String(name))
			if err != nil {
				t.Fatal(err)
			}
			if want := m.getAll(name); got.String() != want.String() {
				t.Fatalf("%s: get_all(%q): got %s, want %s", where, name, got, want)
			}
			if got, want := v.has(name), len(m.values(name)) > 0; got != want {
				t.Fatalf("%s: %q in view: got %v, want %v", where, name, got, want)
			}
		}
	}
	if got, want := v.AppendAll(nil), m.all(); !kvsEqual(got, want) {
		t.Fatalf("%s: AppendAll: got %v, want %v", where, got, want)
	}
	if got, want := v.AppendChanges(nil), m.changes(); !kvsEqual(got, want) {
		t.Fatalf("%s: AppendChanges: got %v, want %v", where, got, want)
	}
	var gotKeys []string
	for _, n := range v.names() {
		gotKeys = append(gotKeys, m.key(n))
	}
	if want := m.keys(); !slices.Equal(gotKeys, want) {
		t.Fatalf("%s: keys (folded): got %q, want %q", where, gotKeys, want)
	}
	if got, want := v.Len(), len(m.keys()); got != want {
		t.Fatalf("%s: len: got %d, want %d", where, got, want)
	}
	if got, want := v.Changed(), len(m.changed) > 0; got != want {
		t.Fatalf("%s: Changed: got %v, want %v", where, got, want)
	}
}

func caseFlip(s string, mask byte) string {
	if mask == 0 {
		return s
	}
	b := []byte(s)
	for j := range b {
		if 'a' <= b[j] && b[j] <= 'z' {
			b[j] -= 0x20
		}
	}
	return string(b)
}

func kvsEqual(a, b []KV) bool {
	if len(a) == 0 && len(b) == 0 {
		return true
	}
	return reflect.DeepEqual(a, b)
}

// headerModel is the reference: a plain list of entries in which a change
// to a name replaces all of its entries at the place of its first one. A
// deleted name leaves a placeholder (no value) that keeps its place.
type headerModel struct {
	kind    viewKind
	list    []KV     // HasValue false: placeholder of a deleted name
	changed []string // keys in order of their first change
	spell   map[string]string
}

func newHeaderModel(kind viewKind, src fakeEntries) *headerModel {
	m := &headerModel{kind: kind, spell: map[string]string{}}
	for _, e := range src {
		m.list = append(m.list, KV{Name: e.name, Value: e.value, HasValue: true})
	}
	return m
}

// key folds ASCII letters only, for the header kinds.
func (m *headerModel) key(name string) string {
	if m.kind == reqArgs {
		return name
	}
	b := []byte(name)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 32
		}
	}
	return string(b)
}

func (m *headerModel) values(name string) []string {
	var out []string
	for _, e := range m.list {
		if e.HasValue && m.key(e.Name) == m.key(name) {
			out = append(out, e.Value)
		}
	}
	return out
}

func (m *headerModel) getAll(name string) starlark.Value {
	var elems []starlark.Value
	for _, s := range m.values(name) {
		elems = append(elems, starlark.String(s))
	}
	return starlark.NewList(elems)
}

// validName is the rule a script-given name must follow.
func (m *headerModel) validName(name string) bool {
	if name == "" {
		return false
	}
	if m.kind == reqArgs {
		return true
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		letterOrDigit := 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
		if !letterOrDigit && !strings.ContainsRune("!#$%&'*+-.^_`|~", rune(c)) {
			return false
		}
	}
	return true
}

// replace puts values (none: a placeholder) where name first appeared,
// or at the end.
func (m *headerModel) replace(name string, values []string) {
	k := m.key(name)
	if !slices.Contains(m.changed, k) {
		m.changed = append(m.changed, k)
	}
	m.spell[k] = name
	var repl []KV
	for _, s := range values {
		repl = append(repl, KV{Name: name, Value: s, HasValue: true})
	}
	if len(repl) == 0 {
		repl = []KV{{Name: name}}
	}
	at := slices.IndexFunc(m.list, func(e KV) bool { return m.key(e.Name) == k })
	m.list = slices.DeleteFunc(m.list, func(e KV) bool { return m.key(e.Name) == k })
	if at < 0 || at > len(m.list) {
		at = len(m.list)
	}
	m.list = slices.Insert(m.list, at, repl...)
}

// apply performs op and returns the expected result (nil: not checked)
// and whether it must succeed.
func (m *headerModel) apply(op, name, value string) (starlark.Value, bool) {
	switch op {
	case "set", "add", "delete":
		if !m.validName(name) {
			return nil, false
		}
		if op != "delete" && m.kind != reqArgs && strings.ContainsAny(value, "\r\n\x00") {
			return nil, false
		}
		switch {
		case op == "delete":
			m.replace(name, nil)
		case op == "add" && m.kind != reqHeaders:
			m.replace(name, append(m.values(name), value))
		default:
			m.replace(name, []string{value})
		}
		return starlark.None, true
	case "get":
		if vals := m.values(name); len(vals) > 0 {
			return starlark.String(vals[0]), true
		}
		return starlark.None, true
	case "get_all":
		return m.getAll(name), true
	}
	panic(op)
}

// all is the complete list AppendAll must produce.
func (m *headerModel) all() []KV {
	var out []KV
	for _, e := range m.list {
		if e.HasValue {
			out = append(out, e)
		}
	}
	return out
}

// changes is what AppendChanges must produce: per changed name in order
// of first change, its last value (request headers) or all its values
// (arguments, response headers), or one deletion entry.
func (m *headerModel) changes() []KV {
	var out []KV
	for _, k := range m.changed {
		name := m.spell[k]
		vals := m.values(k)
		switch {
		case len(vals) == 0:
			out = append(out, KV{Name: name})
		case m.kind == reqHeaders:
			out = append(out, KV{Name: name, Value: vals[len(vals)-1], HasValue: true})
		default:
			for _, s := range vals {
				out = append(out, KV{Name: name, Value: s, HasValue: true})
			}
		}
	}
	return out
}

// keys lists the distinct folded names that have a value, in order.
func (m *headerModel) keys() []string {
	var out []string
	for _, e := range m.list {
		if k := m.key(e.Name); e.HasValue && !slices.Contains(out, k) {
			out = append(out, k)
		}
	}
	return out
}
