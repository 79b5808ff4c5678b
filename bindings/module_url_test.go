package bindings

import "testing"

func TestURLQuote(t *testing.T) {
	runModCases(t, modNow, nil, []modCase{
		{name: "python doc example", expr: `url.quote("/El Niño/")`, want: `"/El%20Ni%C3%B1o/"`},
		{name: "unreserved kept", expr: `url.quote("aZ09-._~")`, want: `"aZ09-._~"`},
		{name: "no safe", expr: `url.quote("a/b?c", safe = "")`, want: `"a%2Fb%3Fc"`},
		{name: "extra safe", expr: `url.quote("a:b@c", safe = ":@")`, want: `"a:b@c"`},
		{name: "bytes", expr: `url.quote(b"\xff")`, want: `"%FF"`},
		{name: "plus", expr: `url.quote_plus("a b&c=d")`, want: `"a+b%26c%3Dd"`},
		{name: "plus escapes slash", expr: `url.quote_plus("a/b")`, want: `"a%2Fb"`},
		{name: "unquote", expr: `url.unquote("/El%20Ni%C3%B1o/")`, want: `"/El Niño/"`},
		{name: "unquote lower hex", expr: `url.unquote("%2f%2F")`, want: `"//"`},
		{name: "unquote keeps malformed", expr: `url.unquote("%41%zz%4")`, want: `"A%zz%4"`},
		{name: "unquote keeps plus", expr: `url.unquote("a+b")`, want: `"a+b"`},
		{name: "unquote_plus", expr: `url.unquote_plus("a+b%2B")`, want: `"a b+"`},
		{name: "round trip", expr: `url.unquote(url.quote("x/ y%z", safe = ""))`, want: `"x/ y%z"`},
		{name: "wrong type", expr: `url.quote(1)`, wantErr: "url.quote: for parameter s: got int, want str or bytes"},
	})
}

func TestURLQuery(t *testing.T) {
	runModCases(t, modNow, nil, []modCase{
		{name: "parse", expr: `url.parse_query("a=1&b=2&a=3")`, want: `{"a": ["1", "3"], "b": ["2"]}`},
		{name: "parse escapes", expr: `url.parse_query("q=a+b%26c&x%20y=1")`, want: `{"q": ["a b&c"], "x y": ["1"]}`},
		{name: "parse valueless and empty", expr: `url.parse_query("c&&d=&=x")`, want: `{"c": [""], "d": [""], "": ["x"]}`},
		{name: "parse leading question mark", expr: `url.parse_query("?x=1")`, want: `{"x": ["1"]}`},
		{name: "parse empty", expr: `url.parse_query("")`, want: `{}`},
		{name: "parse keeps semicolons", expr: `url.parse_query("a=1;b=2")`, want: `{"a": ["1;b=2"]}`},
		{name: "encode sorted", expr: `url.encode_query({"b": "2", "a": ["1", "x y"], "c": 3})`, want: `"a=1&a=x+y&b=2&c=3"`},
		{name: "encode escapes", expr: `url.encode_query({"k&": "v=/"})`, want: `"k%26=v%3D%2F"`},
		{name: "encode empty", expr: `url.encode_query({})`, want: `""`},
		{name: "encode tuple", expr: `url.encode_query({"a": ("1", 2)})`, want: `"a=1&a=2"`},
		{name: "round trip", expr: `url.parse_query(url.encode_query({"a": ["1", "&="], "b": ""}))`, want: `{"a": ["1", "&="], "b": [""]}`},
		{name: "encode bad value", expr: `url.encode_query({"a": None})`, wantErr: `url.encode_query: for "a": got NoneType, want str, int or a list of them`},
		{name: "encode bad key", expr: `url.encode_query({1: "a"})`, wantErr: "url.encode_query: got int key, want str"},
		{name: "encode not a dict", expr: `url.encode_query("a=1")`, wantErr: "url.encode_query: for parameter query: got string, want"},
	})
}
