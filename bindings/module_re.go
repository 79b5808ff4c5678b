package bindings

import (
	"fmt"
	"regexp"
	"strings"
	"sync"

	"go.starlark.net/starlark"
	"go.starlark.net/starlarkstruct"
	"go.starlark.net/syntax"
)

// The re module: regular expressions with RE2 syntax and guarantees (Go's
// regexp: linear time, no backreferences in patterns), Python's argument
// order and result shapes. Offsets are byte offsets, as Starlark string
// indices are.

const (
	// reMaxInput bounds the string a re function searches: one builtin
	// call is one step, so the builtin bounds its own work.
	reMaxInput = 1 << 20
	// reMaxPattern bounds a pattern's length.
	reMaxPattern = 16 << 10
	// reMaxMatches bounds the matches findall, sub and split visit.
	reMaxMatches = 100_000
	// reMaxOutput bounds the string sub builds.
	reMaxOutput = 4 << 20
	// reCacheSize bounds the compiled patterns one module keeps.
	reCacheSize = 256
)

// reModule owns the compile cache of one predeclared environment and the
// builtins it shares between match objects. It is safe for concurrent use.
type reModule struct {
	cache *boundedCache[*rePattern]
	// immutable after newReModule
	ops          map[string]reOp
	matchMethods map[string]*starlark.Builtin // unbound
}

// newReModule returns a re module with its own compile cache.
func newReModule() *starlarkstruct.Module {
	m := &reModule{cache: newBoundedCache[*rePattern](reCacheSize), ops: reOps()}
	m.matchMethods = map[string]*starlark.Builtin{
		"group":     starlark.NewBuiltin("group", matchGroup),
		"groups":    starlark.NewBuiltin("groups", matchGroups),
		"groupdict": starlark.NewBuiltin("groupdict", matchGroupDict),
		"start":     starlark.NewBuiltin("start", matchStart),
		"end":       starlark.NewBuiltin("end", matchEnd),
		"span":      starlark.NewBuiltin("span", matchSpan),
	}
	members := starlark.StringDict{
		"compile": starlark.NewBuiltin("re.compile", m.compileBuiltin),
		"escape":  starlark.NewBuiltin("re.escape", reEscape),
	}
	for name, op := range m.ops {
		members[name] = starlark.NewBuiltin("re."+name, m.moduleOp(op))
	}
	return &starlarkstruct.Module{Name: "re", Members: members}
}

// compile returns the pattern for src, from the cache when it can.
func (m *reModule) compile(fn, src string) (*rePattern, error) {
	if p, ok := m.cache.get(src); ok {
		return p, nil
	}
	if len(src) > reMaxPattern {
		return nil, fmt.Errorf("%s: got a pattern of %d bytes, want at most %d", fn, len(src), reMaxPattern)
	}
	re, err := regexp.Compile(src)
	if err != nil {
		return nil, fmt.Errorf("%s: %v", fn, err)
	}
	return m.cache.add(src, newPattern(m, src, re)), nil
}

// pattern resolves a pattern argument: a str or a compiled pattern.
func (m *reModule) pattern(fn string, v starlark.Value) (*rePattern, error) {
	switch x := v.(type) {
	case *rePattern:
		return x, nil
	case starlark.String:
		return m.compile(fn, string(x))
	}
	return nil, fmt.Errorf("%s: for parameter pattern: got %s, want str or re.pattern", fn, v.Type())
}

func (m *reModule) compileBuiltin(_ *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var src string
	if err := starlark.UnpackArgs(b.Name(), args, kwargs, "pattern", &src); err != nil {
		return nil, err
	}
	return m.compile(b.Name(), src)
}

// moduleOp makes the module-level form of op: the pattern comes first,
// then op's own parameters (re.sub(pattern, repl, string, count=0)).
func (m *reModule) moduleOp(op reOp) func(*starlark.Thread, *starlark.Builtin, starlark.Tuple, []starlark.Tuple) (starlark.Value, error) {
	return func(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
		pv, args, kwargs, err := splitPatternArg(b.Name(), args, kwargs)
		if err != nil {
			return nil, err
		}
		p, err := m.pattern(b.Name(), pv)
		if err != nil {
			return nil, err
		}
		return op(thread, b.Name(), p, args, kwargs)
	}
}

// splitPatternArg takes the pattern argument out of a module-level call.
func splitPatternArg(fn string, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, starlark.Tuple, []starlark.Tuple, error) {
	if len(args) > 0 {
		return args[0], args[1:], kwargs, nil
	}
	for i, kv := range kwargs {
		if k, _ := starlark.AsString(kv[0]); k == "pattern" {
			rest := append(append([]starlark.Tuple(nil), kwargs[:i]...), kwargs[i+1:]...)
			return kv[1], args, rest, nil
		}
	}
	return nil, nil, nil, fmt.Errorf("%s: missing argument for pattern", fn)
}

func reEscape(_ *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var s string
	if err := starlark.UnpackArgs(b.Name(), args, kwargs, "string", &s); err != nil {
		return nil, err
	}
	if err := checkSize(b.Name(), len(s), reMaxInput); err != nil {
		return nil, err
	}
	return starlark.String(regexp.QuoteMeta(s)), nil
}

// A reOp is one operation of a pattern; args are those after the pattern.
type reOp func(thread *starlark.Thread, fn string, p *rePattern, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error)

// reOps returns the operations available both as re.<name>(pattern, ...)
// and as pattern.<name>(...).
func reOps() map[string]reOp {
	find := func(a reAnchor) reOp {
		return func(_ *starlark.Thread, fn string, p *rePattern, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
			return p.find(fn, a, args, kwargs)
		}
	}
	return map[string]reOp{
		"match":     find(reAnchorStart),
		"search":    find(reAnywhere),
		"fullmatch": find(reAnchorBoth),
		"findall": func(_ *starlark.Thread, fn string, p *rePattern, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
			return p.findall(fn, args, kwargs)
		},
		"split": func(_ *starlark.Thread, fn string, p *rePattern, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
			return p.split(fn, args, kwargs)
		},
		"sub": func(thread *starlark.Thread, fn string, p *rePattern, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
			return p.sub(thread, fn, args, kwargs)
		},
	}
}

type reAnchor int

const (
	reAnywhere reAnchor = iota
	reAnchorStart
	reAnchorBoth
)

// rePattern is a compiled pattern, the value re.compile returns. It is
// immutable and safe to share between goroutines; its methods are bound
// once, when it is compiled.
type rePattern struct {
	mod     *reModule
	src     string
	srcVal  starlark.Value
	re      *regexp.Regexp
	methods starlark.StringDict

	anchorOnce sync.Once
	anchored   [2]*regexp.Regexp // \A(?:p) and \A(?:p)\z
	anchorErr  error
}

var (
	_ starlark.HasAttrs = (*rePattern)(nil)
	_ starlark.Value    = (*rePattern)(nil)
)

func newPattern(m *reModule, src string, re *regexp.Regexp) *rePattern {
	p := &rePattern{mod: m, src: src, srcVal: starlark.String(src), re: re}
	p.methods = make(starlark.StringDict, len(m.ops))
	for name, op := range m.ops {
		p.methods[name] = starlark.NewBuiltin(name, patternMethod(op)).BindReceiver(p)
	}
	return p
}

func patternMethod(op reOp) func(*starlark.Thread, *starlark.Builtin, starlark.Tuple, []starlark.Tuple) (starlark.Value, error) {
	return func(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
		return op(thread, "re.pattern."+b.Name(), b.Receiver().(*rePattern), args, kwargs)
	}
}

func (p *rePattern) String() string        { return "re.compile(" + syntax.Quote(p.src, false) + ")" }
func (p *rePattern) Type() string          { return "re.pattern" }
func (p *rePattern) Freeze()               {}
func (p *rePattern) Truth() starlark.Bool  { return true }
func (p *rePattern) Hash() (uint32, error) { return hashString(p.src), nil }

func (p *rePattern) Attr(name string) (starlark.Value, error) {
	switch name {
	case "pattern":
		return p.srcVal, nil
	case "groups":
		return starlark.MakeInt(p.re.NumSubexp()), nil
	}
	return p.methods[name], nil // nil, nil: no such attribute
}

func (p *rePattern) AttrNames() []string {
	return []string{"findall", "fullmatch", "groups", "match", "pattern", "search", "split", "sub"}
}

// anchoredRe returns the pattern anchored at the start (and the end),
// compiled on first use.
func (p *rePattern) anchoredRe(a reAnchor) (*regexp.Regexp, error) {
	if a == reAnywhere {
		return p.re, nil
	}
	p.anchorOnce.Do(func() {
		p.anchored[0], p.anchorErr = anchor(p.src, `\A(?:`, `)`)
		if p.anchorErr == nil {
			p.anchored[1], p.anchorErr = anchor(p.src, `\A(?:`, `)\z`)
		}
	})
	return p.anchored[a-1], p.anchorErr
}

// anchor compiles src between prefix and suffix, which keeps its group
// numbers and names. A source ending inside \Q… needs an \E first.
func anchor(src, prefix, suffix string) (*regexp.Regexp, error) {
	re, err := regexp.Compile(prefix + src + suffix)
	if err != nil {
		re, err = regexp.Compile(prefix + src + `\E` + suffix)
	}
	return re, err
}

// subject bounds the size of the string a pattern operates on.
func subject(fn string, s string) error { return checkSize(fn, len(s), reMaxInput) }

func (p *rePattern) find(fn string, a reAnchor, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var s string
	if err := starlark.UnpackArgs(fn, args, kwargs, "string", &s); err != nil {
		return nil, err
	}
	if err := subject(fn, s); err != nil {
		return nil, err
	}
	re, err := p.anchoredRe(a)
	if err != nil {
		return nil, fmt.Errorf("%s: %v", fn, err)
	}
	loc := re.FindStringSubmatchIndex(s)
	if loc == nil {
		return starlark.None, nil
	}
	return &reMatch{p: p, s: s, loc: loc}, nil
}

// allMatches returns up to n (all when n < 0) match locations in s.
func (p *rePattern) allMatches(fn, s string, n int) ([][]int, error) {
	if n < 0 || n > reMaxMatches {
		n = reMaxMatches + 1
	}
	locs := p.re.FindAllStringSubmatchIndex(s, n)
	if len(locs) > reMaxMatches {
		return nil, fmt.Errorf("%s: more than %d matches", fn, reMaxMatches)
	}
	return locs, nil
}

func (p *rePattern) findall(fn string, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var s string
	if err := starlark.UnpackArgs(fn, args, kwargs, "string", &s); err != nil {
		return nil, err
	}
	if err := subject(fn, s); err != nil {
		return nil, err
	}
	locs, err := p.allMatches(fn, s, -1)
	if err != nil {
		return nil, err
	}
	groups := p.re.NumSubexp()
	out := make([]starlark.Value, len(locs))
	for i, loc := range locs {
		switch groups {
		case 0:
			out[i] = starlark.String(s[loc[0]:loc[1]])
		case 1:
			out[i] = groupText(s, loc, 1, starlark.String(""))
		default:
			t := make(starlark.Tuple, groups)
			for g := range t {
				t[g] = groupText(s, loc, g+1, starlark.String(""))
			}
			out[i] = t
		}
	}
	return starlark.NewList(out), nil
}

// groupText is group g of a match, or dflt when the group did not take
// part in it.
func groupText(s string, loc []int, g int, dflt starlark.Value) starlark.Value {
	if loc[2*g] < 0 {
		return dflt
	}
	return starlark.String(s[loc[2*g]:loc[2*g+1]])
}

func (p *rePattern) split(fn string, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var s string
	maxsplit := 0
	if err := starlark.UnpackArgs(fn, args, kwargs, "string", &s, "maxsplit?", &maxsplit); err != nil {
		return nil, err
	}
	if maxsplit < 0 {
		return nil, fmt.Errorf("%s: got maxsplit %d, want >= 0", fn, maxsplit)
	}
	if err := subject(fn, s); err != nil {
		return nil, err
	}
	n := -1
	if maxsplit > 0 {
		n = maxsplit
	}
	locs, err := p.allMatches(fn, s, n)
	if err != nil {
		return nil, err
	}
	groups := p.re.NumSubexp()
	out := make([]starlark.Value, 0, len(locs)*(groups+1)+1)
	last := 0
	for _, loc := range locs {
		out = append(out, starlark.String(s[last:loc[0]]))
		for g := 1; g <= groups; g++ {
			out = append(out, groupText(s, loc, g, starlark.None))
		}
		last = loc[1]
	}
	out = append(out, starlark.String(s[last:]))
	return starlark.NewList(out), nil
}

func (p *rePattern) sub(thread *starlark.Thread, fn string, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var (
		repl  starlark.Value
		s     string
		count int
	)
	if err := starlark.UnpackArgs(fn, args, kwargs, "repl", &repl, "string", &s, "count?", &count); err != nil {
		return nil, err
	}
	if count < 0 {
		return nil, fmt.Errorf("%s: got count %d, want >= 0", fn, count)
	}
	if err := subject(fn, s); err != nil {
		return nil, err
	}
	var tmpl []replPiece
	isFunc := false
	switch r := repl.(type) {
	case starlark.String:
		var err error
		if tmpl, err = parseRepl(fn, p.re, string(r)); err != nil {
			return nil, err
		}
	case starlark.Callable:
		isFunc = true
	default:
		return nil, fmt.Errorf("%s: for parameter repl: got %s, want str or function", fn, repl.Type())
	}
	n := -1
	if count > 0 {
		n = count
	}
	locs, err := p.allMatches(fn, s, n)
	if err != nil {
		return nil, err
	}
	if len(locs) == 0 {
		return starlark.String(s), nil
	}
	var b strings.Builder
	last := 0
	for _, loc := range locs {
		b.WriteString(s[last:loc[0]])
		if !isFunc {
			expandRepl(&b, tmpl, s, loc)
		} else if err := callRepl(thread, fn, &b, repl, &reMatch{p: p, s: s, loc: loc}); err != nil {
			return nil, err
		}
		last = loc[1]
		if b.Len() > reMaxOutput {
			return nil, fmt.Errorf("%s: result longer than %d bytes", fn, reMaxOutput)
		}
	}
	b.WriteString(s[last:])
	if b.Len() > reMaxOutput {
		return nil, fmt.Errorf("%s: result longer than %d bytes", fn, reMaxOutput)
	}
	return starlark.String(b.String()), nil
}

func callRepl(thread *starlark.Thread, fn string, b *strings.Builder, repl starlark.Value, m *reMatch) error {
	v, err := starlark.Call(thread, repl, starlark.Tuple{m}, nil)
	if err != nil {
		return err
	}
	s, ok := v.(starlark.String)
	if !ok {
		return fmt.Errorf("%s: repl returned %s, want str", fn, v.Type())
	}
	b.WriteString(string(s))
	return nil
}

// replPiece is a literal (group < 0) or a group reference of a
// replacement template.
type replPiece struct {
	lit   string
	group int
}

// parseRepl parses a Python replacement template: \1 … \99 and \g<n> or
// \g<name> refer to groups, \\ is a backslash, \n \t \r \f \v \a \b are
// control characters, other escaped letters are errors and other escaped
// characters stay as written. "$" has no special meaning.
func parseRepl(fn string, re *regexp.Regexp, repl string) ([]replPiece, error) {
	pieces := make([]replPiece, 0, 4)
	var lit strings.Builder
	flush := func() {
		if lit.Len() > 0 {
			pieces = append(pieces, replPiece{lit: lit.String(), group: -1})
			lit.Reset()
		}
	}
	for i := 0; i < len(repl); i++ {
		c := repl[i]
		if c != '\\' {
			lit.WriteByte(c)
			continue
		}
		i++
		if i == len(repl) {
			return nil, fmt.Errorf("%s: bad escape (end of pattern) in repl", fn)
		}
		c = repl[i]
		switch {
		case c >= '1' && c <= '9':
			g := int(c - '0')
			if i+1 < len(repl) && repl[i+1] >= '0' && repl[i+1] <= '9' {
				i++
				g = g*10 + int(repl[i]-'0')
			}
			if g > re.NumSubexp() {
				return nil, fmt.Errorf("%s: invalid group reference %d in repl, want at most %d", fn, g, re.NumSubexp())
			}
			flush()
			pieces = append(pieces, replPiece{group: g})
		case c == 'g':
			end := strings.IndexByte(repl[i:], '>')
			if i+1 >= len(repl) || repl[i+1] != '<' || end < 0 {
				return nil, fmt.Errorf("%s: bad \\g escape in repl, want \\g<name> or \\g<number>", fn)
			}
			g, err := replGroup(fn, re, repl[i+2:i+end])
			if err != nil {
				return nil, err
			}
			i += end
			flush()
			pieces = append(pieces, replPiece{group: g})
		case c == '\\':
			lit.WriteByte('\\')
		case strings.IndexByte("ntrfvab", c) >= 0:
			lit.WriteByte("\n\t\r\f\v\a\b"[strings.IndexByte("ntrfvab", c)])
		case c == '0' || (c|0x20 >= 'a' && c|0x20 <= 'z'):
			return nil, fmt.Errorf("%s: bad escape \\%c in repl", fn, c)
		default:
			lit.WriteByte('\\')
			lit.WriteByte(c)
		}
	}
	flush()
	return pieces, nil
}

// replGroup resolves the name or number inside \g<...>.
func replGroup(fn string, re *regexp.Regexp, ref string) (int, error) {
	if ref != "" && strings.Trim(ref, "0123456789") == "" {
		g := 0
		for _, d := range ref {
			g = g*10 + int(d-'0')
			if g > re.NumSubexp() {
				return 0, fmt.Errorf("%s: invalid group reference %s in repl, want at most %d", fn, ref, re.NumSubexp())
			}
		}
		return g, nil
	}
	if g := re.SubexpIndex(ref); g > 0 {
		return g, nil
	}
	return 0, fmt.Errorf("%s: unknown group name %q in repl", fn, ref)
}

// expandRepl writes the template for one match; a group that did not take
// part in the match expands to "".
func expandRepl(b *strings.Builder, tmpl []replPiece, s string, loc []int) {
	for _, p := range tmpl {
		if p.group < 0 {
			b.WriteString(p.lit)
		} else if loc[2*p.group] >= 0 {
			b.WriteString(s[loc[2*p.group]:loc[2*p.group+1]])
		}
	}
}

// reMatch is a match object: immutable, made per successful match.
type reMatch struct {
	p   *rePattern
	s   string
	loc []int
}

var (
	_ starlark.HasAttrs = (*reMatch)(nil)
	_ starlark.Mapping  = (*reMatch)(nil)
)

func (m *reMatch) String() string {
	return fmt.Sprintf("<re.match span=(%d, %d) match=%s>", m.loc[0], m.loc[1], syntax.Quote(m.s[m.loc[0]:m.loc[1]], false))
}
func (m *reMatch) Type() string          { return "re.match" }
func (m *reMatch) Freeze()               {}
func (m *reMatch) Truth() starlark.Bool  { return true }
func (m *reMatch) Hash() (uint32, error) { return 0, fmt.Errorf("unhashable type: re.match") }

func (m *reMatch) Attr(name string) (starlark.Value, error) {
	switch name {
	case "string":
		return starlark.String(m.s), nil
	case "re":
		return m.p, nil
	}
	if b := m.p.mod.matchMethods[name]; b != nil {
		return b.BindReceiver(m), nil
	}
	return nil, nil
}

func (m *reMatch) AttrNames() []string {
	return []string{"end", "group", "groupdict", "groups", "re", "span", "start", "string"}
}

// Get implements m[g], the same as m.group(g).
func (m *reMatch) Get(k starlark.Value) (starlark.Value, bool, error) {
	g, err := m.groupIndex("re.match", k)
	if err != nil {
		return nil, false, err
	}
	return groupText(m.s, m.loc, g, starlark.None), true, nil
}

// groupIndex resolves a group given by number or name.
func (m *reMatch) groupIndex(fn string, v starlark.Value) (int, error) {
	switch x := v.(type) {
	case starlark.Int:
		if g, ok := x.Int64(); ok && g >= 0 && int(g) <= m.p.re.NumSubexp() {
			return int(g), nil
		}
		return 0, fmt.Errorf("%s: no such group %s, want 0 to %d", fn, x, m.p.re.NumSubexp())
	case starlark.String:
		if g := m.p.re.SubexpIndex(string(x)); g > 0 {
			return g, nil
		}
		return 0, fmt.Errorf("%s: no such group %s", fn, x)
	}
	return 0, fmt.Errorf("%s: got %s, want int or str group", fn, v.Type())
}

// oneGroup unpacks the optional group argument of start, end and span.
func (m *reMatch) oneGroup(fn string, args starlark.Tuple, kwargs []starlark.Tuple) (int, error) {
	var gv starlark.Value = starlark.MakeInt(0)
	if err := starlark.UnpackArgs(fn, args, kwargs, "group?", &gv); err != nil {
		return 0, err
	}
	return m.groupIndex(fn, gv)
}

func matchGroup(_ *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	m := b.Receiver().(*reMatch)
	const fn = "re.match.group"
	if len(kwargs) > 0 {
		return nil, fmt.Errorf("%s: unexpected keyword arguments", fn)
	}
	if len(args) <= 1 {
		g := 0
		if len(args) == 1 {
			var err error
			if g, err = m.groupIndex(fn, args[0]); err != nil {
				return nil, err
			}
		}
		return groupText(m.s, m.loc, g, starlark.None), nil
	}
	out := make(starlark.Tuple, len(args))
	for i, a := range args {
		g, err := m.groupIndex(fn, a)
		if err != nil {
			return nil, err
		}
		out[i] = groupText(m.s, m.loc, g, starlark.None)
	}
	return out, nil
}

func matchGroups(_ *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	m := b.Receiver().(*reMatch)
	var dflt starlark.Value = starlark.None
	if err := starlark.UnpackArgs("re.match.groups", args, kwargs, "default?", &dflt); err != nil {
		return nil, err
	}
	out := make(starlark.Tuple, m.p.re.NumSubexp())
	for i := range out {
		out[i] = groupText(m.s, m.loc, i+1, dflt)
	}
	return out, nil
}

func matchGroupDict(_ *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	m := b.Receiver().(*reMatch)
	var dflt starlark.Value = starlark.None
	if err := starlark.UnpackArgs("re.match.groupdict", args, kwargs, "default?", &dflt); err != nil {
		return nil, err
	}
	d := starlark.NewDict(0)
	for g, name := range m.p.re.SubexpNames() {
		if name != "" {
			if err := d.SetKey(starlark.String(name), groupText(m.s, m.loc, g, dflt)); err != nil {
				return nil, err
			}
		}
	}
	return d, nil
}

func matchStart(_ *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	m := b.Receiver().(*reMatch)
	g, err := m.oneGroup("re.match.start", args, kwargs)
	if err != nil {
		return nil, err
	}
	return starlark.MakeInt(m.loc[2*g]), nil
}

func matchEnd(_ *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	m := b.Receiver().(*reMatch)
	g, err := m.oneGroup("re.match.end", args, kwargs)
	if err != nil {
		return nil, err
	}
	return starlark.MakeInt(m.loc[2*g+1]), nil
}

func matchSpan(_ *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	m := b.Receiver().(*reMatch)
	g, err := m.oneGroup("re.match.span", args, kwargs)
	if err != nil {
		return nil, err
	}
	return starlark.Tuple{starlark.MakeInt(m.loc[2*g]), starlark.MakeInt(m.loc[2*g+1])}, nil
}
