package loadgen

import "testing"

func TestConfKey(t *testing.T) {
	a := confKey([]Conf{{Name: "bench_filter", Value: "{}"}})
	b := confKey([]Conf{{Name: "bench_var", Value: "{}"}})
	c := confKey([]Conf{{Name: "bench_filter", Value: "{}"}})
	if a == b || a != c {
		t.Errorf("got keys %q, %q, %q; want distinct keys for distinct confs, equal for equal", a, b, c)
	}
}
