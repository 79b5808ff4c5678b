package main

import (
	"bytes"
	"strings"
	"testing"
)

func TestRender(t *testing.T) {
	all := []result{
		{Label: "floor", Conns: 1, CallsPerSec: 20000, P99US: 100},
		{Label: "floor", Conns: 16, CallsPerSec: 60000, P99US: 900},
		{Label: "scriptrunner", Conns: 1, CallsPerSec: 18000, P99US: 120},
		{Label: "scriptrunner", Conns: 16, CallsPerSec: 50000, P99US: 1000},
		{Label: "scriptrunner", Conns: 16, CallsPerSec: 40000, P99US: 1400},
	}
	var b bytes.Buffer
	if err := render(&b, false, "test", all); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "<svg") || !strings.Contains(b.String(), "scriptrunner") {
		t.Errorf("got no SVG with the series labels:\n%.300s", b.String())
	}
	ss := collect(all)
	if len(ss) != 2 || ss[1].label != "scriptrunner" || ss[1].calls[1] != 45000 || ss[1].p99[1] != 1200 {
		t.Errorf("got series %+v, want scriptrunner's 16-conn median 45000 calls/s, p99 1200", ss)
	}
}
