package bindings

import (
	"fmt"
	"strings"

	"go.starlark.net/starlark"
)

// viewKind selects the rules of a View.
type viewKind uint8

const (
	// reqHeaders: case-insensitive names, one value per name on the wire
	// (add behaves like set), changes sent as set/delete entries.
	reqHeaders viewKind = iota
	// reqArgs: case-sensitive names, several values per name.
	reqArgs
	// respHeaders: case-insensitive names, several values per name, sent
	// back as the complete list.
	respHeaders
)

// View is the Starlark value behind req.headers, req.args and
// resp.headers: a multi-valued, insertion-ordered list of name/value
// pairs. Reads go straight to the host's Entries; changes are kept as an
// overlay per name, so reading costs no allocation per entry and a change
// costs one record, whatever the number of headers.
type View struct {
	kind    viewKind
	src     Entries
	changes []change
	edits   int // set/add/delete calls since reset
	methods starlark.StringDict
}

// change replaces every value of one name; no values means deleted.
type change struct {
	key    string // normalized name
	name   string // name as the script gave it
	values []string
}

var viewMethodNames = []string{"add", "delete", "get", "get_all", "items", "keys", "set"}

func newView(kind viewKind) *View {
	v := &View{kind: kind}
	v.methods = starlark.StringDict{
		"get":     starlark.NewBuiltin("get", v.get),
		"get_all": starlark.NewBuiltin("get_all", v.getAll),
		"set":     starlark.NewBuiltin("set", v.set),
		"add":     starlark.NewBuiltin("add", v.add),
		"delete":  starlark.NewBuiltin("delete", v.delete),
		"keys":    starlark.NewBuiltin("keys", v.keysFn),
		"items":   starlark.NewBuiltin("items", v.itemsFn),
	}
	return v
}

func (v *View) reset(src Entries) {
	clear(v.changes)
	v.changes = v.changes[:0]
	v.edits = 0
	v.src = src
}

func (v *View) fold() bool { return v.kind != reqArgs }

// key normalizes a name for comparison: ASCII lower case for headers.
// Only ASCII letters fold, as in match: strings.ToLower would also map
// non-ASCII letters such as the Kelvin sign U+212A onto "k".
func (v *View) key(name string) string {
	if !v.fold() {
		return name
	}
	for i := 0; i < len(name); i++ {
		if c := name[i]; 'A' <= c && c <= 'Z' {
			return asciiLower(name, i)
		}
	}
	return name
}

// asciiLower lowers the ASCII letters of s from index i on.
func asciiLower(s string, i int) string {
	b := []byte(s)
	for ; i < len(b); i++ {
		if c := b[i]; 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

// match reports whether a source name equals the normalized key.
func (v *View) match(name []byte, key string) bool {
	if len(name) != len(key) {
		return false
	}
	if !v.fold() {
		return string(name) == key
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != key[i] {
			return false
		}
	}
	return true
}

func (v *View) findChange(key string) *change {
	for i := range v.changes {
		if v.changes[i].key == key {
			return &v.changes[i]
		}
	}
	return nil
}

func (v *View) srcLen() int {
	if v.src == nil {
		return 0
	}
	return v.src.Len()
}

// first returns the first value of key.
func (v *View) first(key string) (string, bool) {
	if c := v.findChange(key); c != nil {
		if len(c.values) == 0 {
			return "", false
		}
		return c.values[0], true
	}
	for i, n := 0, v.srcLen(); i < n; i++ {
		name, value, _ := v.src.At(i)
		if v.match(name, key) {
			return string(value), true
		}
	}
	return "", false
}

// all appends every value of key to dst.
func (v *View) all(dst []string, key string) []string {
	if c := v.findChange(key); c != nil {
		return append(dst, c.values...)
	}
	for i, n := 0, v.srcLen(); i < n; i++ {
		name, value, _ := v.src.At(i)
		if v.match(name, key) {
			dst = append(dst, string(value))
		}
	}
	return dst
}

func (v *View) has(key string) bool {
	if c := v.findChange(key); c != nil {
		return len(c.values) > 0
	}
	for i, n := 0, v.srcLen(); i < n; i++ {
		if name, _, _ := v.src.At(i); v.match(name, key) {
			return true
		}
	}
	return false
}

func (v *View) record(name string, values []string) {
	v.edits++
	key := v.key(name)
	if c := v.findChange(key); c != nil {
		c.name, c.values = name, values
		return
	}
	v.changes = append(v.changes, change{key: key, name: name, values: values})
}

// names returns the distinct names in order: the host's first, then names
// the script added. Host names keep their spelling.
func (v *View) names() []string {
	var out []string
	seen := func(key string) bool {
		for _, n := range out {
			if v.key(n) == key {
				return true
			}
		}
		return false
	}
	for i, n := 0, v.srcLen(); i < n; i++ {
		name, _, _ := v.src.At(i)
		s := string(name)
		key := v.key(s)
		if c := v.findChange(key); c != nil && len(c.values) == 0 {
			continue
		}
		if !seen(key) {
			out = append(out, s)
		}
	}
	for _, c := range v.changes {
		if len(c.values) > 0 && !seen(c.key) {
			out = append(out, c.name)
		}
	}
	return out
}

// AppendChanges appends the changes in the form a Rewrite carries them:
// for request headers one entry per changed name (the value to set, or no
// value to delete); for arguments every value of each changed name, or one
// value-less entry to delete it.
func (v *View) AppendChanges(dst []KV) []KV {
	for _, c := range v.changes {
		switch {
		case len(c.values) == 0:
			dst = append(dst, KV{Name: c.name})
		case v.kind == reqHeaders:
			dst = append(dst, KV{Name: c.name, Value: c.values[len(c.values)-1], HasValue: true})
		default:
			dst = c.appendValues(dst)
		}
	}
	return dst
}

// AppendAll appends the complete current list: the host's entries with the
// changes applied in place of a name's first occurrence, then new names.
func (v *View) AppendAll(dst []KV) []KV {
	var small [8]bool
	emitted := small[:0]
	if len(v.changes) <= len(small) {
		emitted = small[:len(v.changes)]
	} else {
		emitted = make([]bool, len(v.changes))
	}
	for i, n := 0, v.srcLen(); i < n; i++ {
		name, value, _ := v.src.At(i)
		ci := -1
		for j := range v.changes {
			if v.match(name, v.changes[j].key) {
				ci = j
				break
			}
		}
		switch {
		case ci < 0:
			dst = append(dst, KV{Name: string(name), Value: string(value), HasValue: true})
		case !emitted[ci]: // a changed name's values go where it first appeared
			dst = v.changes[ci].appendValues(dst)
			emitted[ci] = true
		}
	}
	for i := range v.changes {
		if !emitted[i] {
			dst = v.changes[i].appendValues(dst)
		}
	}
	return dst
}

func (c *change) appendValues(dst []KV) []KV {
	for _, val := range c.values {
		dst = append(dst, KV{Name: c.name, Value: val, HasValue: true})
	}
	return dst
}

// Changed reports whether the script changed anything.
func (v *View) Changed() bool { return len(v.changes) > 0 }

// --- starlark.Value and friends ---

func (v *View) typeName() string {
	switch v.kind {
	case reqArgs:
		return "args"
	case respHeaders:
		return "response_headers"
	}
	return "headers"
}

func (v *View) String() string {
	var b strings.Builder
	b.WriteString(v.typeName())
	b.WriteByte('(')
	for i, kv := range v.AppendAll(nil) {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%q: %q", kv.Name, kv.Value)
	}
	b.WriteByte(')')
	return b.String()
}

func (v *View) Type() string          { return v.typeName() }
func (v *View) Freeze()               {}
func (v *View) Truth() starlark.Bool  { return v.Len() > 0 }
func (v *View) Hash() (uint32, error) { return 0, fmt.Errorf("unhashable: %s", v.Type()) }
func (v *View) Len() int              { return len(v.names()) }

func (v *View) Iterate() starlark.Iterator {
	names := v.names()
	elems := make([]starlark.Value, len(names))
	for i, n := range names {
		elems[i] = starlark.String(n)
	}
	return starlark.NewList(elems).Iterate()
}

// Get makes `name in view` and `view[name]` work; it returns the first
// value.
func (v *View) Get(k starlark.Value) (starlark.Value, bool, error) {
	s, ok := k.(starlark.String)
	if !ok {
		return nil, false, fmt.Errorf("%s: got %s key, want string", v.Type(), k.Type())
	}
	val, found := v.first(v.key(string(s)))
	if !found {
		return nil, false, nil
	}
	return starlark.String(val), true, nil
}

func (v *View) Attr(name string) (starlark.Value, error) {
	if m, ok := v.methods[name]; ok {
		return m, nil
	}
	return nil, nil
}

func (v *View) AttrNames() []string { return viewMethodNames }

func (v *View) get(_ *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var name string
	var def starlark.Value = starlark.None
	if err := starlark.UnpackArgs(b.Name(), args, kwargs, "name", &name, "default?", &def); err != nil {
		return nil, err
	}
	if val, ok := v.first(v.key(name)); ok {
		return starlark.String(val), nil
	}
	return def, nil
}

func (v *View) getAll(_ *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var name string
	if err := starlark.UnpackPositionalArgs(b.Name(), args, kwargs, 1, &name); err != nil {
		return nil, err
	}
	vals := v.all(nil, v.key(name))
	elems := make([]starlark.Value, len(vals))
	for i, s := range vals {
		elems[i] = starlark.String(s)
	}
	return starlark.NewList(elems), nil
}

// setArgs unpacks (name, value) where value is a string, or a list of
// strings for the multi-valued views.
func (v *View) setArgs(b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (string, []string, error) {
	var name string
	var value starlark.Value
	if err := starlark.UnpackArgs(b.Name(), args, kwargs, "name", &name, "value", &value); err != nil {
		return "", nil, err
	}
	if err := v.checkName(b.Name(), name); err != nil {
		return "", nil, err
	}
	var values []string
	switch x := value.(type) {
	case starlark.String:
		values = []string{string(x)}
	case *starlark.List, starlark.Tuple:
		if v.kind == reqHeaders {
			return "", nil, fmt.Errorf("%s: a request header carries one value over the protocol; got %s, want string", b.Name(), value.Type())
		}
		for e := range starlark.Elements(x.(starlark.Iterable)) {
			s, ok := e.(starlark.String)
			if !ok {
				return "", nil, fmt.Errorf("%s: got list element of type %s, want string", b.Name(), e.Type())
			}
			values = append(values, string(s))
		}
	case starlark.Int:
		values = []string{x.String()}
	default:
		return "", nil, fmt.Errorf("%s: got value of type %s, want string", b.Name(), value.Type())
	}
	for _, s := range values {
		if err := v.checkValue(b.Name(), name, s); err != nil {
			return "", nil, err
		}
	}
	return name, values, nil
}

func (v *View) checkName(fn, name string) error {
	if name == "" {
		return fmt.Errorf("%s: empty name", fn)
	}
	if v.kind == reqArgs {
		return nil
	}
	return checkHeaderName(fn, name)
}

func (v *View) checkValue(fn, name, value string) error {
	if v.kind == reqArgs {
		return nil
	}
	return checkHeaderValue(fn, name, value)
}

func (v *View) set(_ *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	name, values, err := v.setArgs(b, args, kwargs)
	if err != nil {
		return nil, err
	}
	v.record(name, values)
	return starlark.None, nil
}

func (v *View) add(_ *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	name, values, err := v.setArgs(b, args, kwargs)
	if err != nil {
		return nil, err
	}
	if v.kind != reqHeaders {
		values = append(v.all(nil, v.key(name)), values...)
	}
	v.record(name, values)
	return starlark.None, nil
}

func (v *View) delete(_ *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var name string
	if err := starlark.UnpackPositionalArgs(b.Name(), args, kwargs, 1, &name); err != nil {
		return nil, err
	}
	if err := v.checkName(b.Name(), name); err != nil {
		return nil, err
	}
	v.record(name, nil)
	return starlark.None, nil
}

func (v *View) keysFn(_ *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	if err := starlark.UnpackPositionalArgs(b.Name(), args, kwargs, 0); err != nil {
		return nil, err
	}
	names := v.names()
	elems := make([]starlark.Value, len(names))
	for i, n := range names {
		elems[i] = starlark.String(n)
	}
	return starlark.NewList(elems), nil
}

// items returns (name, value) tuples, one per value, in order.
func (v *View) itemsFn(_ *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	if err := starlark.UnpackPositionalArgs(b.Name(), args, kwargs, 0); err != nil {
		return nil, err
	}
	all := v.AppendAll(nil)
	elems := make([]starlark.Value, len(all))
	for i, kv := range all {
		elems[i] = starlark.Tuple{starlark.String(kv.Name), starlark.String(kv.Value)}
	}
	return starlark.NewList(elems), nil
}

// checkHeaderName accepts RFC 9110 token characters only.
func checkHeaderName(fn, name string) error {
	if name == "" {
		return fmt.Errorf("%s: empty header name", fn)
	}
	for i := 0; i < len(name); i++ {
		if !isTokenChar(name[i]) {
			return fmt.Errorf("%s: invalid character %q in header name %q", fn, name[i], name)
		}
	}
	return nil
}

// checkHeaderValue rejects CR, LF and NUL, which would split a header.
func checkHeaderValue(fn, name, value string) error {
	if i := strings.IndexAny(value, "\r\n\x00"); i >= 0 {
		return fmt.Errorf("%s: invalid character %q in the value of header %q", fn, value[i], name)
	}
	return nil
}

func isTokenChar(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	return strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
}

var (
	_ starlark.Value    = (*View)(nil)
	_ starlark.HasAttrs = (*View)(nil)
	_ starlark.Mapping  = (*View)(nil)
	_ starlark.Sequence = (*View)(nil)
)

// ViewMethodNames returns the method names of header and argument views.
func ViewMethodNames() []string { return append([]string(nil), viewMethodNames...) }
