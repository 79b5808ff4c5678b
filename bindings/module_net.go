package bindings

import (
	"fmt"
	"net/netip"
	"strings"

	"go.starlark.net/starlark"
	"go.starlark.net/starlarkstruct"
)

// The net module: IP addresses and CIDR ranges (IPv4 and IPv6).
// An IPv4-mapped IPv6 address (::ffff:10.0.0.1) matches IPv4 ranges.

// newNetModule returns the net module. It holds no state.
func newNetModule() *starlarkstruct.Module {
	return &starlarkstruct.Module{Name: "net", Members: starlark.StringDict{
		"cidr_contains": starlark.NewBuiltin("net.cidr_contains", netCIDRContains),
		"cidr_set":      starlark.NewBuiltin("net.cidr_set", netCIDRSet),
		"parse_ip":      starlark.NewBuiltin("net.parse_ip", netParseIP),
	}}
}

// parseAddr parses an IP address for matching: zone dropped, IPv4-mapped
// addresses unmapped.
func parseAddr(fn, s string) (netip.Addr, error) {
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("%s: got %q, want an IP address", fn, s)
	}
	return a.WithZone("").Unmap(), nil
}

// parsePrefix parses a CIDR range, or a single address as a one-address
// range.
func parsePrefix(fn, s string) (netip.Prefix, error) {
	if !strings.Contains(s, "/") {
		a, err := netip.ParseAddr(s)
		if err != nil || a.Zone() != "" {
			return netip.Prefix{}, fmt.Errorf("%s: got %q, want a CIDR range or an IP address", fn, s)
		}
		a = a.Unmap()
		return netip.PrefixFrom(a, a.BitLen()), nil
	}
	p, err := netip.ParsePrefix(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("%s: got %q, want a CIDR range or an IP address", fn, s)
	}
	if p.Addr().Is4In6() && p.Bits() >= 96 {
		p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
	}
	return p.Masked(), nil
}

// cidrSet is an immutable list of ranges, the value net.cidr_set returns.
// Build it once (in init) and test addresses against it on every request.
// It is safe to share between goroutines.
type cidrSet struct {
	prefixes []netip.Prefix
	contains *starlark.Builtin // bound once
}

var (
	_ starlark.HasAttrs  = (*cidrSet)(nil)
	_ starlark.Container = (*cidrSet)(nil)
	_ starlark.Sequence  = (*cidrSet)(nil)
)

// toCIDRSet converts a str, list or tuple of str, or cidr_set.
func toCIDRSet(fn string, v starlark.Value) (*cidrSet, error) {
	switch x := v.(type) {
	case *cidrSet:
		return x, nil
	case starlark.String:
		p, err := parsePrefix(fn, string(x))
		if err != nil {
			return nil, err
		}
		return newCIDRSet([]netip.Prefix{p}), nil
	case *starlark.List, starlark.Tuple:
		seq := x.(starlark.Indexable)
		ps := make([]netip.Prefix, seq.Len())
		for i := range ps {
			p, err := prefixAt(fn, seq, i)
			if err != nil {
				return nil, err
			}
			ps[i] = p
		}
		return newCIDRSet(ps), nil
	}
	return nil, fmt.Errorf("%s: got %s, want str, list of str or net.cidr_set", fn, v.Type())
}

// prefixAt parses element i of a list or tuple of ranges.
func prefixAt(fn string, seq starlark.Indexable, i int) (netip.Prefix, error) {
	s, ok := seq.Index(i).(starlark.String)
	if !ok {
		return netip.Prefix{}, fmt.Errorf("%s: got %s in the list, want str", fn, seq.Index(i).Type())
	}
	return parsePrefix(fn, string(s))
}

func newCIDRSet(ps []netip.Prefix) *cidrSet {
	s := &cidrSet{prefixes: ps}
	s.contains = starlark.NewBuiltin("contains", cidrSetContains).BindReceiver(s)
	return s
}

func (s *cidrSet) has(a netip.Addr) bool {
	for _, p := range s.prefixes {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

func (s *cidrSet) String() string {
	var b strings.Builder
	b.WriteString("net.cidr_set([")
	for i, p := range s.prefixes {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(`"` + p.String() + `"`)
	}
	b.WriteString("])")
	return b.String()
}
func (s *cidrSet) Type() string          { return "net.cidr_set" }
func (s *cidrSet) Freeze()               {}
func (s *cidrSet) Truth() starlark.Bool  { return len(s.prefixes) > 0 }
func (s *cidrSet) Hash() (uint32, error) { return 0, fmt.Errorf("unhashable type: net.cidr_set") }
func (s *cidrSet) Len() int              { return len(s.prefixes) }

// Iterate yields the ranges as str, in canonical form.
func (s *cidrSet) Iterate() starlark.Iterator { return &cidrIter{s: s} }

type cidrIter struct {
	s *cidrSet
	i int
}

func (it *cidrIter) Next(p *starlark.Value) bool {
	if it.i >= len(it.s.prefixes) {
		return false
	}
	*p = starlark.String(it.s.prefixes[it.i].String())
	it.i++
	return true
}
func (it *cidrIter) Done() {}

// Has implements `ip in set`.
func (s *cidrSet) Has(v starlark.Value) (bool, error) {
	ip, ok := v.(starlark.String)
	if !ok {
		return false, fmt.Errorf("in net.cidr_set: got %s, want str", v.Type())
	}
	a, err := parseAddr("in net.cidr_set", string(ip))
	if err != nil {
		return false, err
	}
	return s.has(a), nil
}

func (s *cidrSet) Attr(name string) (starlark.Value, error) {
	if name == "contains" {
		return s.contains, nil
	}
	return nil, nil
}

func (s *cidrSet) AttrNames() []string { return []string{"contains"} }

// set.contains(ip) -> bool
func cidrSetContains(_ *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	const fn = "net.cidr_set.contains"
	var ip string
	if err := starlark.UnpackArgs(fn, args, kwargs, "ip", &ip); err != nil {
		return nil, err
	}
	a, err := parseAddr(fn, ip)
	if err != nil {
		return nil, err
	}
	return starlark.Bool(b.Receiver().(*cidrSet).has(a)), nil
}

// net.cidr_set(cidrs) -> net.cidr_set
func netCIDRSet(_ *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var v starlark.Value
	if err := starlark.UnpackArgs(b.Name(), args, kwargs, "cidrs", &v); err != nil {
		return nil, err
	}
	return toCIDRSet(b.Name(), v)
}

// net.cidr_contains(cidrs, ip) -> bool
func netCIDRContains(_ *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var (
		v  starlark.Value
		ip string
	)
	if err := starlark.UnpackArgs(b.Name(), args, kwargs, "cidrs", &v, "ip", &ip); err != nil {
		return nil, err
	}
	a, err := parseAddr(b.Name(), ip)
	if err != nil {
		return nil, err
	}
	switch x := v.(type) {
	case *cidrSet:
		return starlark.Bool(x.has(a)), nil
	case starlark.String:
		p, err := parsePrefix(b.Name(), string(x))
		if err != nil {
			return nil, err
		}
		return starlark.Bool(p.Contains(a)), nil
	case *starlark.List, starlark.Tuple:
		// Every entry is parsed, so a bad one fails every call, not only
		// those that reach it.
		seq := x.(starlark.Indexable)
		found := false
		for i := range seq.Len() {
			p, err := prefixAt(b.Name(), seq, i)
			if err != nil {
				return nil, err
			}
			found = found || p.Contains(a)
		}
		return starlark.Bool(found), nil
	}
	return nil, fmt.Errorf("%s: got %s, want str, list of str or net.cidr_set", b.Name(), v.Type())
}

// net.parse_ip(s) -> str or None: the address in canonical form (IPv6
// compressed and lowercase, IPv4-mapped kept as written), or None when s
// is not an IP address.
func netParseIP(_ *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var s string
	if err := starlark.UnpackArgs(b.Name(), args, kwargs, "s", &s); err != nil {
		return nil, err
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return starlark.None, nil
	}
	return starlark.String(a.String()), nil
}
