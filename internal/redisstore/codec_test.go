package redisstore

import (
	"bytes"
	"math"
	"strings"
	"testing"

	"go.starlark.net/starlark"
)

func codecSamples() []starlark.Value {
	d := starlark.NewDict(3)
	d.SetKey(starlark.String("z"), starlark.MakeInt(-1))
	d.SetKey(starlark.String("\xff"), starlark.Bytes("\x00"))
	d.SetKey(starlark.String(""), starlark.NewList([]starlark.Value{starlark.None, starlark.True, starlark.Float(math.Copysign(0, -1))}))
	return []starlark.Value{
		starlark.None, starlark.True, starlark.False,
		starlark.MakeInt(0), starlark.MakeInt64(math.MinInt64), starlark.MakeInt64(math.MaxInt64),
		starlark.Float(math.NaN()), starlark.Float(math.Inf(-1)), starlark.Float(0.1),
		starlark.String(""), starlark.String("\xc3(é"), starlark.Bytes("\x00\xff"),
		starlark.NewList(nil), starlark.NewDict(0), d,
		starlark.NewList([]starlark.Value{starlark.MakeInt64(math.MinInt64), d}),
	}
}

// TestEncodeDecode: decoding an encoding and encoding it again gives the
// same bytes, and the value is frozen.
func TestEncodeDecode(t *testing.T) {
	for _, v := range codecSamples() {
		t.Run(v.String(), func(t *testing.T) {
			data, err := encode(v)
			if err != nil {
				t.Fatal(err)
			}
			got, err := decode(data)
			if err != nil {
				t.Fatalf("decode %q: %v", data, err)
			}
			again, err := encode(got)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(again, data) {
				t.Errorf("got %q after a round trip, want %q", again, data)
			}
			if got.Type() != v.Type() || got.String() != v.String() {
				t.Errorf("got %s %s, want %s %s", got.Type(), got, v.Type(), v)
			}
		})
	}
}

func TestEncodeInt(t *testing.T) {
	for _, n := range []int64{0, 7, -7, math.MaxInt64, math.MinInt64} {
		data, _ := encode(starlark.MakeInt64(n))
		if got, want := string(data), starlark.MakeInt64(n).String(); got != want {
			t.Errorf("got %q, want the decimal %q (for INCRBY)", got, want)
		}
	}
}

func TestEncodeRejects(t *testing.T) {
	deep := starlark.Value(starlark.MakeInt(1))
	for range maxDepth + 1 {
		deep = starlark.NewList([]starlark.Value{deep})
	}
	badKey := starlark.NewDict(1)
	badKey.SetKey(starlark.MakeInt(1), starlark.None)
	tests := []struct {
		name string
		v    starlark.Value
		want string
	}{
		{"tuple", starlark.Tuple{}, "got tuple"},
		{"big int", starlark.MakeInt64(math.MaxInt64).Add(starlark.MakeInt(1)), "does not fit in 64 bits"},
		{"big int in a list", starlark.NewList([]starlark.Value{starlark.MakeInt64(math.MinInt64).Sub(starlark.MakeInt(1))}), "does not fit"},
		{"int dict key", badKey, "got dict key of type int"},
		{"too deep", deep, "nested more than 32 deep"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := encode(tc.v); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want an error with %q", err, tc.want)
			}
		})
	}
}

func TestDecodeRejects(t *testing.T) {
	tests := []struct{ name, data string }{
		{"empty", ""},
		{"unknown tag", "x"},
		{"trailing bytes", "NN"},
		{"short float", "f\x00"},
		{"str longer than data", "s\x05ab"},
		{"huge list count", "l\xff\xff\xff\xff\x0f"},
		{"bad decimal", "12a"},
		{"decimal overflow", "9223372036854775808"},
		{"truncated dict", "d\x01\x01k"},
		{"too deep", strings.Repeat("l\x01", maxDepth+2) + "N"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if v, err := decode([]byte(tc.data)); err == nil {
				t.Errorf("got %v, want an error", v)
			}
		})
	}
}

// FuzzDecode: any bytes decode to a value or an error, never a panic, and
// a decoded value encodes to bytes that decode to the same encoding.
func FuzzDecode(f *testing.F) {
	for _, v := range codecSamples() {
		data, _ := encode(v)
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		v, err := decode(data)
		if err != nil {
			return
		}
		enc, err := encode(v)
		if err != nil {
			t.Fatalf("decoded %s, which does not encode: %v", v, err)
		}
		v2, err := decode(enc)
		if err != nil {
			t.Fatalf("encoding %q of %s does not decode: %v", enc, v, err)
		}
		enc2, _ := encode(v2)
		if !bytes.Equal(enc, enc2) {
			t.Fatalf("unstable: %q then %q", enc, enc2)
		}
	})
}
