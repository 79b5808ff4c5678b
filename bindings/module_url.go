package bindings

import (
	"fmt"
	"slices"
	"strings"

	"go.starlark.net/starlark"
	"go.starlark.net/starlarkstruct"
)

// The url module: percent-encoding as Python's urllib.parse does it, and
// query strings. Decoding is lenient like Python's: a "%" not followed by
// two hex digits stays as it is.

// newURLModule returns the url module. It holds no state.
func newURLModule() *starlarkstruct.Module {
	return &starlarkstruct.Module{Name: "url", Members: starlark.StringDict{
		"quote":        starlark.NewBuiltin("url.quote", urlQuote(false, "/")),
		"quote_plus":   starlark.NewBuiltin("url.quote_plus", urlQuote(true, "")),
		"unquote":      starlark.NewBuiltin("url.unquote", urlUnquote(false)),
		"unquote_plus": starlark.NewBuiltin("url.unquote_plus", urlUnquote(true)),
		"parse_query":  starlark.NewBuiltin("url.parse_query", urlParseQuery),
		"encode_query": starlark.NewBuiltin("url.encode_query", urlEncodeQuery),
	}}
}

// unreserved reports RFC 3986 unreserved characters, which are never
// escaped.
func unreserved(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
		c == '-' || c == '.' || c == '_' || c == '~'
}

// quote percent-encodes every byte of s that is not unreserved and not in
// safe; with plus, a space becomes "+".
func quote(s, safe string, plus bool) string {
	const hexUpper = "0123456789ABCDEF"
	keep := func(c byte) bool { return unreserved(c) || strings.IndexByte(safe, c) >= 0 }
	n := 0
	for i := 0; i < len(s); i++ {
		if !keep(s[i]) && !(plus && s[i] == ' ') {
			n++
		}
	}
	if n == 0 && !(plus && strings.IndexByte(s, ' ') >= 0) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 2*n)
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case keep(c):
			b.WriteByte(c)
		case plus && c == ' ':
			b.WriteByte('+')
		default:
			b.WriteByte('%')
			b.WriteByte(hexUpper[c>>4])
			b.WriteByte(hexUpper[c&15])
		}
	}
	return b.String()
}

func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// unquote decodes %XX escapes (leaving malformed ones as they are) and,
// with plus, "+" as a space.
func unquote(s string, plus bool) string {
	if strings.IndexByte(s, '%') < 0 && (!plus || strings.IndexByte(s, '+') < 0) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '+' && plus {
			c = ' '
		} else if c == '%' && i+2 < len(s) {
			hi, ok1 := unhex(s[i+1])
			lo, ok2 := unhex(s[i+2])
			if ok1 && ok2 {
				c = hi<<4 | lo
				i += 2
			}
		}
		b.WriteByte(c)
	}
	return b.String()
}

// url.quote(s, safe="/") and url.quote_plus(s, safe="") -> str
func urlQuote(plus bool, defaultSafe string) func(*starlark.Thread, *starlark.Builtin, starlark.Tuple, []starlark.Tuple) (starlark.Value, error) {
	return func(_ *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
		var s bytesLike
		safe := defaultSafe
		if err := starlark.UnpackArgs(b.Name(), args, kwargs, "s", &s, "safe?", &safe); err != nil {
			return nil, err
		}
		if err := checkSize(b.Name(), len(s), maxDataBytes); err != nil {
			return nil, err
		}
		return starlark.String(quote(string(s), safe, plus)), nil
	}
}

// url.unquote(s) and url.unquote_plus(s) -> str
func urlUnquote(plus bool) func(*starlark.Thread, *starlark.Builtin, starlark.Tuple, []starlark.Tuple) (starlark.Value, error) {
	return func(_ *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
		var s bytesLike
		if err := starlark.UnpackArgs(b.Name(), args, kwargs, "s", &s); err != nil {
			return nil, err
		}
		if err := checkSize(b.Name(), len(s), maxDataBytes); err != nil {
			return nil, err
		}
		return starlark.String(unquote(string(s), plus)), nil
	}
}

// url.parse_query(qs) -> dict of str -> list of str, names in the order
// they first appear. A leading "?" is skipped; "&" separates pairs; a pair
// without "=" has the value ""; "+" is a space.
func urlParseQuery(_ *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var qs string
	if err := starlark.UnpackArgs(b.Name(), args, kwargs, "qs", &qs); err != nil {
		return nil, err
	}
	if err := checkSize(b.Name(), len(qs), maxDataBytes); err != nil {
		return nil, err
	}
	qs = strings.TrimPrefix(qs, "?")
	d := starlark.NewDict(strings.Count(qs, "&") + 1)
	for pair := range strings.SplitSeq(qs, "&") {
		if pair == "" {
			continue
		}
		name, value, _ := strings.Cut(pair, "=")
		k := starlark.String(unquote(name, true))
		v := starlark.String(unquote(value, true))
		old, found, _ := d.Get(k)
		if found {
			l := old.(*starlark.List)
			if err := l.Append(v); err != nil {
				return nil, err
			}
			continue
		}
		if err := d.SetKey(k, starlark.NewList([]starlark.Value{v})); err != nil {
			return nil, err
		}
	}
	return d, nil
}

// url.encode_query(d) -> str: names sorted, each value a str or int or a
// list or tuple of them (one pair per element), encoded as quote_plus.
func urlEncodeQuery(_ *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var d starlark.IterableMapping
	if err := starlark.UnpackArgs(b.Name(), args, kwargs, "query", &d); err != nil {
		return nil, err
	}
	items := d.Items()
	type pair struct{ k, v string }
	var pairs []pair
	for _, kv := range items {
		k, ok := starlark.AsString(kv[0])
		if !ok {
			return nil, fmt.Errorf("%s: got %s key, want str", b.Name(), kv[0].Type())
		}
		vals, err := queryValues(b.Name(), k, kv[1])
		if err != nil {
			return nil, err
		}
		for _, v := range vals {
			pairs = append(pairs, pair{k, v})
		}
	}
	slices.SortStableFunc(pairs, func(a, b pair) int { return strings.Compare(a.k, b.k) })
	var sb strings.Builder
	for i, p := range pairs {
		if i > 0 {
			sb.WriteByte('&')
		}
		sb.WriteString(quote(p.k, "", true))
		sb.WriteByte('=')
		sb.WriteString(quote(p.v, "", true))
		if sb.Len() > maxDataBytes {
			return nil, fmt.Errorf("%s: result longer than %d bytes", b.Name(), maxDataBytes)
		}
	}
	return starlark.String(sb.String()), nil
}

// queryValues converts the value of query name k to strings.
func queryValues(fn, k string, v starlark.Value) ([]string, error) {
	one := func(v starlark.Value) (string, error) {
		switch x := v.(type) {
		case starlark.String:
			return string(x), nil
		case starlark.Int:
			return x.String(), nil
		}
		return "", fmt.Errorf("%s: for %q: got %s, want str, int or a list of them", fn, k, v.Type())
	}
	switch x := v.(type) {
	case *starlark.List, starlark.Tuple:
		seq := x.(starlark.Indexable)
		out := make([]string, seq.Len())
		for i := range out {
			s, err := one(seq.Index(i))
			if err != nil {
				return nil, err
			}
			out[i] = s
		}
		return out, nil
	}
	s, err := one(v)
	if err != nil {
		return nil, err
	}
	return []string{s}, nil
}
