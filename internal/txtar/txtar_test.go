package txtar

import (
	"bytes"
	"testing"
)

func TestParse(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		comment string
		files   []File
	}{
		{"comment only", "hello\nworld\n", "hello\nworld\n", nil},
		{"two files", "c\n-- a.txt --\nA\n-- b --\nB1\nB2\n", "c\n",
			[]File{{"a.txt", []byte("A\n")}, {"b", []byte("B1\nB2\n")}}},
		{"empty file and no final newline", "-- a --\n-- b --\nx", "",
			[]File{{"a", nil}, {"b", []byte("x")}}},
		{"not markers", "--a--\n-- --\n--  x\n", "--a--\n-- --\n--  x\n", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := Parse([]byte(tc.in))
			if string(a.Comment) != tc.comment {
				t.Errorf("comment: got %q, want %q", a.Comment, tc.comment)
			}
			if len(a.Files) != len(tc.files) {
				t.Fatalf("got %d files, want %d", len(a.Files), len(tc.files))
			}
			for i, f := range a.Files {
				if f.Name != tc.files[i].Name || !bytes.Equal(f.Data, tc.files[i].Data) {
					t.Errorf("file %d: got %q %q, want %q %q", i, f.Name, f.Data, tc.files[i].Name, tc.files[i].Data)
				}
			}
		})
	}
}

func TestFormatRoundTrip(t *testing.T) {
	in := "comment\n-- a --\nA\n-- b --\nB\n"
	a := Parse([]byte(in))
	if got := string(Format(a)); got != in {
		t.Errorf("got %q, want %q", got, in)
	}
	a.Set("b", []byte("changed\n"))
	a.Set("c", []byte("new"))
	want := "comment\n-- a --\nA\n-- b --\nchanged\n-- c --\nnew\n"
	if got := string(Format(a)); got != want {
		t.Errorf("after Set: got %q, want %q", got, want)
	}
	if d, ok := a.File("c"); !ok || string(d) != "new" {
		t.Errorf("File(c): got %q %v", d, ok)
	}
}
