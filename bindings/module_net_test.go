package bindings

import "testing"

func TestNetCIDRContains(t *testing.T) {
	runModCases(t, modNow, nil, []modCase{
		{name: "ipv4 in", expr: `net.cidr_contains("10.0.0.0/8", "10.1.2.3")`, want: `True`},
		{name: "ipv4 out", expr: `net.cidr_contains("10.0.0.0/8", "11.0.0.1")`, want: `False`},
		{name: "ipv4 edges", expr: `[net.cidr_contains("192.168.1.0/24", ip) for ip in ["192.168.0.255", "192.168.1.0", "192.168.1.255", "192.168.2.0"]]`, want: `[False, True, True, False]`},
		{name: "unmasked range", expr: `net.cidr_contains("10.1.2.3/8", "10.200.0.1")`, want: `True`},
		{name: "single address", expr: `(net.cidr_contains("127.0.0.1", "127.0.0.1"), net.cidr_contains("127.0.0.1", "127.0.0.2"))`, want: `(True, False)`},
		{name: "everything", expr: `net.cidr_contains("0.0.0.0/0", "8.8.8.8")`, want: `True`},
		{name: "ipv6 in", expr: `net.cidr_contains("2001:db8::/32", "2001:db8:ffff::1")`, want: `True`},
		{name: "ipv6 out", expr: `net.cidr_contains("2001:db8::/32", "2001:db9::1")`, want: `False`},
		{name: "ipv6 zone ignored", expr: `net.cidr_contains("fe80::/10", "fe80::1%eth0")`, want: `True`},
		{name: "mapped ipv4 address", expr: `net.cidr_contains("10.0.0.0/8", "::ffff:10.0.0.1")`, want: `True`},
		{name: "mapped ipv4 range", expr: `net.cidr_contains("::ffff:10.0.0.0/104", "10.0.0.1")`, want: `True`},
		{name: "families differ", expr: `(net.cidr_contains("10.0.0.0/8", "::1"), net.cidr_contains("::/0", "10.0.0.1"))`, want: `(False, False)`},
		{name: "list", expr: `net.cidr_contains(["192.168.0.0/16", "10.0.0.0/8"], "10.9.9.9")`, want: `True`},
		{name: "list none", expr: `net.cidr_contains(["192.168.0.0/16", "10.0.0.0/8"], "172.16.0.1")`, want: `False`},
		{name: "empty list", expr: `net.cidr_contains([], "10.0.0.1")`, want: `False`},
		{name: "tuple", expr: `net.cidr_contains(("::1",), "::1")`, want: `True`},
		{name: "invalid range", expr: `net.cidr_contains("10.0.0.0/33", "10.0.0.1")`, wantErr: `net.cidr_contains: got "10.0.0.0/33", want a CIDR range or an IP address`},
		{name: "invalid range late in list", expr: `net.cidr_contains(["10.0.0.0/8", "nope"], "10.0.0.1")`, wantErr: `got "nope", want a CIDR range`},
		{name: "invalid ip", expr: `net.cidr_contains("10.0.0.0/8", "10.0.0")`, wantErr: `net.cidr_contains: got "10.0.0", want an IP address`},
		{name: "ip with port", expr: `net.cidr_contains("10.0.0.0/8", "10.0.0.1:80")`, wantErr: "want an IP address"},
		{name: "wrong type in list", expr: `net.cidr_contains([1], "10.0.0.1")`, wantErr: "net.cidr_contains: got int in the list, want str"},
		{name: "wrong type", expr: `net.cidr_contains(1, "10.0.0.1")`, wantErr: "net.cidr_contains: got int, want str, list of str or net.cidr_set"},
	})
}

func TestNetCIDRSet(t *testing.T) {
	const set = `s = net.cidr_set(["10.0.0.0/8", "2001:DB8::/32", "192.0.2.7"])`
	runModCases(t, modNow, nil, []modCase{
		{name: "in", setup: set, expr: `("10.1.1.1" in s, "192.0.2.7" in s, "192.0.2.8" in s, "2001:db8::5" in s)`, want: `(True, True, False, True)`},
		{name: "contains", setup: set, expr: `(s.contains("2001:db8::5"), s.contains("::1"))`, want: `(True, False)`},
		{name: "with cidr_contains", setup: set, expr: `net.cidr_contains(s, "10.0.0.1")`, want: `True`},
		{name: "len and iteration", setup: set, expr: `(len(s), list(s))`, want: `(3, ["10.0.0.0/8", "2001:db8::/32", "192.0.2.7/32"])`},
		{name: "repr", setup: `s = net.cidr_set("10.0.0.0/8")`, expr: `str(s)`, want: `"net.cidr_set([\"10.0.0.0/8\"])"`},
		{name: "empty is false", expr: `bool(net.cidr_set([]))`, want: `False`},
		{name: "frozen global", setup: `S = net.cidr_set(["10.0.0.0/8"])
def f(ip):
    return ip in S`, expr: `f("10.0.0.1")`, want: `True`},
		{name: "invalid ip in", setup: set, expr: `"x" in s`, wantErr: `in net.cidr_set: got "x", want an IP address`},
		{name: "invalid entry", expr: `net.cidr_set(["10.0.0.0/8", "x"])`, wantErr: `net.cidr_set: got "x", want a CIDR range or an IP address`},
	})
}

func TestNetParseIP(t *testing.T) {
	runModCases(t, modNow, nil, []modCase{
		{name: "ipv4", expr: `net.parse_ip("192.0.2.1")`, want: `"192.0.2.1"`},
		{name: "ipv6 compressed", expr: `net.parse_ip("2001:DB8:0:0:0:0:0:1")`, want: `"2001:db8::1"`},
		{name: "mapped kept", expr: `net.parse_ip("::ffff:192.0.2.1")`, want: `"::ffff:192.0.2.1"`},
		{name: "invalid", expr: `net.parse_ip("example.com")`, want: `None`},
		{name: "leading zeros", expr: `net.parse_ip("010.0.0.1")`, want: `None`},
		{name: "empty", expr: `net.parse_ip("")`, want: `None`},
	})
}
