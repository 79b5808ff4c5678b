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
	vals    []string // values of the changes, appended; reused across calls
	edits   int      // set/add/delete calls since reset
	methods viewMethods
	strs    stringCache
}

// viewMethods are a View's methods, bound once. Attr picks one with a
// switch: a map lookup hashed the name on every headers.get.
type viewMethods struct {
	get, getAll, set, add, delete, keys, items *starlark.Builtin
}

// change replaces every value of one name; no values means deleted. Its
// values are vals[off:off+n] of its View: an arena that only grows during
// a call, so recording a change allocates nothing once warm.
type change struct {
	name   string // name as the script gave it
	off, n int
}

var viewMethodNames = []string{"add", "delete", "get", "get_all", "items", "keys", "set"}

func newView(kind viewKind) *View {
	v := &View{kind: kind}
	v.methods = viewMethods{
		get:    starlark.NewBuiltin("get", v.get),
		getAll: starlark.NewBuiltin("get_all", v.getAll),
		set:    starlark.NewBuiltin("set", v.set),
		add:    starlark.NewBuiltin("add", v.add),
		delete: starlark.NewBuiltin("delete", v.delete),
		keys:   starlark.NewBuiltin("keys", v.keysFn),
		items:  starlark.NewBuiltin("items", v.itemsFn),
	}
	return v
}

func (v *View) reset(src Entries) {
	clear(v.changes)
	v.changes = v.changes[:0]
	clear(v.vals)
	v.vals = v.vals[:0]
	v.edits = 0
	v.src = src
}

func (v *View) fold() bool { return v.kind != reqArgs }

// match reports whether a source name equals name: ASCII case folded for
// headers, exact for arguments. Only ASCII letters fold: a Unicode fold
// would also map the Kelvin sign U+212A onto "k". Nothing is lowered into
// a new string, so lookups do not allocate.
func (v *View) match(src []byte, name string) bool {
	if len(src) != len(name) {
		return false
	}
	if !v.fold() {
		return string(src) == name
	}
	for i := 0; i < len(src); i++ {
		if lowerASCII(src[i]) != lowerASCII(name[i]) {
			return false
		}
	}
	return true
}

// same is match for two strings.
func (v *View) same(a, b string) bool {
	if !v.fold() {
		return a == b
	}
	return len(a) == len(b) && asciiEqualFold(a, b)
}

func lowerASCII(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

// values returns the values of c.
func (v *View) values(c *change) []string { return v.vals[c.off : c.off+c.n : c.off+c.n] }

func (v *View) findChange(name string) *change {
	for i := range v.changes {
		if v.same(v.changes[i].name, name) {
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

// first returns the first value of key as a Starlark string. A value
// from the host comes from the view's string cache.
func (v *View) first(key string) (starlark.Value, bool) {
	if c := v.findChange(key); c != nil {
		if c.n == 0 {
			return nil, false
		}
		return starlark.String(v.vals[c.off]), true
	}
	for i, n := 0, v.srcLen(); i < n; i++ {
		name, value, _ := v.src.At(i)
		if v.match(name, key) {
			return v.strs.value(value), true
		}
	}
	return nil, false
}

// stringCache hands out the Starlark strings of host values, keeping the
// last few so that a value read again on a later call, as a client's API
// key, host or content type is, costs no allocation. Reading a header
// value otherwise allocates twice: its bytes as a string, and the string
// boxed as a Value. Starlark cannot tell two equal strings apart, so a
// cached string carries nothing of the call that read it first but its
// content, which equals the new value's.
type stringCache struct {
	ents [stringCacheSize]starlark.Value // starlark.String, or nil
	next uint32
}

const (
	stringCacheSize = 8
	// maxCachedString bounds what a pooled view keeps alive between
	// calls; longer values are converted on every read.
	maxCachedString = 256
)

func (c *stringCache) value(b []byte) starlark.Value {
	if len(b) > maxCachedString {
		return starlark.String(b)
	}
	for _, v := range c.ents {
		if s, ok := v.(starlark.String); ok && string(s) == string(b) {
			return v
		}
	}
	v := starlark.Value(starlark.String(b))
	c.ents[c.next%stringCacheSize] = v
	c.next++
	return v
}

// all appends every value of key to dst.
func (v *View) all(dst []string, key string) []string {
	if c := v.findChange(key); c != nil {
		return append(dst, v.values(c)...)
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
		return c.n > 0
	}
	for i, n := 0, v.srcLen(); i < n; i++ {
		if name, _, _ := v.src.At(i); v.match(name, key) {
			return true
		}
	}
	return false
}

// record makes vals[off:] the values of name.
func (v *View) record(name string, off int) {
	v.edits++
	c := v.findChange(name)
	if c == nil {
		v.changes = append(v.changes, change{})
		c = &v.changes[len(v.changes)-1]
	}
	c.name, c.off, c.n = name, off, len(v.vals)-off
}

// names returns the distinct names in order: the host's first, then names
// the script added. Host names keep their spelling.
func (v *View) names() []string {
	var out []string
	seen := func(name string) bool {
		for _, n := range out {
			if v.same(n, name) {
				return true
			}
		}
		return false
	}
	for i, n := 0, v.srcLen(); i < n; i++ {
		name, _, _ := v.src.At(i)
		s := string(name)
		if c := v.findChange(s); c != nil && c.n == 0 {
			continue
		}
		if !seen(s) {
			out = append(out, s)
		}
	}
	for _, c := range v.changes {
		if c.n > 0 && !seen(c.name) {
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
	for i := range v.changes {
		c := &v.changes[i]
		switch {
		case c.n == 0:
			dst = append(dst, KV{Name: c.name})
		case v.kind == reqHeaders:
			dst = append(dst, KV{Name: c.name, Value: v.vals[c.off+c.n-1], HasValue: true})
		default:
			dst = v.appendValues(dst, c)
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
			if v.match(name, v.changes[j].name) {
				ci = j
				break
			}
		}
		switch {
		case ci < 0:
			dst = append(dst, KV{Name: string(name), Value: string(value), HasValue: true})
		case !emitted[ci]: // a changed name's values go where it first appeared
			dst = v.appendValues(dst, &v.changes[ci])
			emitted[ci] = true
		}
	}
	for i := range v.changes {
		if !emitted[i] {
			dst = v.appendValues(dst, &v.changes[i])
		}
	}
	return dst
}

func (v *View) appendValues(dst []KV, c *change) []KV {
	for _, val := range v.values(c) {
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
	val, found := v.first(string(s))
	return val, found, nil
}

func (v *View) Attr(name string) (starlark.Value, error) {
	if m := v.method(name); m != nil {
		return m, nil
	}
	return nil, nil
}

// method returns the method called name, or nil.
func (v *View) method(name string) *starlark.Builtin {
	switch name {
	case "get":
		return v.methods.get
	case "get_all":
		return v.methods.getAll
	case "set":
		return v.methods.set
	case "add":
		return v.methods.add
	case "delete":
		return v.methods.delete
	case "keys":
		return v.methods.keys
	case "items":
		return v.methods.items
	}
	return nil
}

func (v *View) AttrNames() []string { return viewMethodNames }

func (v *View) get(_ *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	name, def, err := unpackNameDefault(b, args, kwargs)
	if err != nil {
		return nil, err
	}
	if val, ok := v.first(name); ok {
		return val, nil
	}
	return def, nil
}

func (v *View) getAll(_ *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	name, err := unpackName(b, args, kwargs)
	if err != nil {
		return nil, err
	}
	vals := v.all(nil, name)
	elems := make([]starlark.Value, len(vals))
	for i, s := range vals {
		elems[i] = starlark.String(s)
	}
	return starlark.NewList(elems), nil
}

// setArgs unpacks (name, value), where value is a string (or int), or a
// list of strings for the multi-valued views, and appends the values to
// the arena. It returns the name and where its values start.
func (v *View) setArgs(b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (string, int, error) {
	name, value, err := unpackNameValue(b, args, kwargs)
	if err != nil {
		return "", 0, err
	}
	if err := v.checkName(b.Name(), name); err != nil {
		return "", 0, err
	}
	off := len(v.vals)
	switch x := value.(type) {
	case starlark.String:
		v.vals = append(v.vals, string(x))
	case *starlark.List, starlark.Tuple:
		if v.kind == reqHeaders {
			return "", 0, fmt.Errorf("%s: a request header carries one value over the protocol; got %s, want string", b.Name(), value.Type())
		}
		if err := v.appendList(b.Name(), x.(starlark.Iterable)); err != nil {
			v.vals = v.vals[:off]
			return "", 0, err
		}
	case starlark.Int:
		v.vals = append(v.vals, x.String())
	default:
		return "", 0, fmt.Errorf("%s: got value of type %s, want string", b.Name(), value.Type())
	}
	for _, s := range v.vals[off:] {
		if err := v.checkValue(b.Name(), name, s); err != nil {
			v.vals = v.vals[:off]
			return "", 0, err
		}
	}
	return name, off, nil
}

// appendList appends the strings of a list to the arena. It is a function
// of its own because the iterator closure would otherwise make setArgs
// allocate on every call.
func (v *View) appendList(fn string, it starlark.Iterable) error {
	for e := range starlark.Elements(it) {
		s, ok := e.(starlark.String)
		if !ok {
			return fmt.Errorf("%s: got list element of type %s, want string", fn, e.Type())
		}
		v.vals = append(v.vals, string(s))
	}
	return nil
}

// unpackNameDefault unpacks (name, default=None) without the allocations
// of UnpackArgs (its out-pointers escape) on the usual positional form.
func unpackNameDefault(b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (string, starlark.Value, error) {
	if len(kwargs) == 0 && len(args) >= 1 && len(args) <= 2 {
		if s, ok := args[0].(starlark.String); ok {
			if len(args) == 2 {
				return string(s), args[1], nil
			}
			return string(s), starlark.None, nil
		}
	}
	return unpackNameDefaultSlow(b, args, kwargs)
}

func unpackNameDefaultSlow(b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (string, starlark.Value, error) {
	var name string
	var def starlark.Value = starlark.None
	err := starlark.UnpackArgs(b.Name(), args, kwargs, "name", &name, "default?", &def)
	return name, def, err
}

// unpackNameValue unpacks (name, value), fast on the positional form.
func unpackNameValue(b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (string, starlark.Value, error) {
	if len(kwargs) == 0 && len(args) == 2 {
		if s, ok := args[0].(starlark.String); ok {
			return string(s), args[1], nil
		}
	}
	return unpackNameValueSlow(b, args, kwargs)
}

func unpackNameValueSlow(b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (string, starlark.Value, error) {
	var name string
	var value starlark.Value
	err := starlark.UnpackArgs(b.Name(), args, kwargs, "name", &name, "value", &value)
	return name, value, err
}

// unpackName unpacks (name), fast on the positional form.
func unpackName(b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (string, error) {
	if len(kwargs) == 0 && len(args) == 1 {
		if s, ok := args[0].(starlark.String); ok {
			return string(s), nil
		}
	}
	return unpackNameSlow(b, args, kwargs)
}

func unpackNameSlow(b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (string, error) {
	var name string
	err := starlark.UnpackPositionalArgs(b.Name(), args, kwargs, 1, &name)
	return name, err
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
	name, off, err := v.setArgs(b, args, kwargs)
	if err != nil {
		return nil, err
	}
	v.record(name, off)
	return starlark.None, nil
}

func (v *View) add(_ *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	name, off, err := v.setArgs(b, args, kwargs)
	if err != nil {
		return nil, err
	}
	if v.kind != reqHeaders {
		// The name's values so far, then the added ones, as a new run.
		added := len(v.vals) - off
		start := len(v.vals)
		v.vals = v.all(v.vals, name)
		v.vals = append(v.vals, v.vals[off:off+added]...)
		off = start
	}
	v.record(name, off)
	return starlark.None, nil
}

func (v *View) delete(_ *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	name, err := unpackName(b, args, kwargs)
	if err != nil {
		return nil, err
	}
	if err := v.checkName(b.Name(), name); err != nil {
		return nil, err
	}
	v.record(name, len(v.vals))
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
// A byte loop over a table is several times faster than strings.IndexAny
// for the short values scripts set, and it runs on every set and add.
func checkHeaderValue(fn, name, value string) error {
	for i := 0; i < len(value); i++ {
		if splitsHeader[value[i]] {
			return fmt.Errorf("%s: invalid character %q in the value of header %q", fn, value[i], name)
		}
	}
	return nil
}

func isTokenChar(c byte) bool { return tokenChars[c] }

var (
	// splitsHeader marks the bytes a header value must not contain.
	splitsHeader = byteSet("\r\n\x00")
	// tokenChars marks the bytes of an RFC 9110 token (a header name).
	tokenChars = byteSet("!#$%&'*+-.^_`|~0123456789" +
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")
)

func byteSet(chars string) (set [256]bool) {
	for i := 0; i < len(chars); i++ {
		set[chars[i]] = true
	}
	return set
}

var (
	_ starlark.Value    = (*View)(nil)
	_ starlark.HasAttrs = (*View)(nil)
	_ starlark.Mapping  = (*View)(nil)
	_ starlark.Sequence = (*View)(nil)
)

// ViewMethodNames returns the method names of header and argument views.
func ViewMethodNames() []string { return append([]string(nil), viewMethodNames...) }
