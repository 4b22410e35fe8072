package ui

import (
	"bytes"
	"slices"
	"testing"
)

func TestPlainOutput(t *testing.T) {
	var buf bytes.Buffer
	u := New(&buf)
	if u.Terminal() {
		t.Fatal("a buffer is not a terminal")
	}
	u.Status("pods ready 0/1")
	u.Status("pods ready 0/1")
	u.Status("pods ready 1/1")
	u.Printf("built in %s", "1s")
	b := u.Bar("pushing", 100)
	for i := int64(0); i <= 100; i += 10 {
		b.Set(i, 100)
	}
	b.Finish()
	want := "pods ready 0/1\npods ready 1/1\nbuilt in 1s\npushing: 25% of 100 B\npushing: 50% of 100 B\npushing: 75% of 100 B\npushing: 100% of 100 B\n"
	if buf.String() != want {
		t.Errorf("got\n%s\nwant\n%s", buf.String(), want)
	}
	for n, s := range map[int64]string{0: "0 B", 2048: "2.0 KiB", 5 << 20: "5.0 MiB", 3 << 30: "3.0 GiB"} {
		if Bytes(n) != s {
			t.Errorf("Bytes(%d) = %s", n, Bytes(n))
		}
	}
}

// A nil *UI is a UI that writes nothing: callers need no check.
func TestNilUI(t *testing.T) {
	var u *UI
	u.Printf("x %d", 1)
	u.Status("y")
	u.ClearStatus()
	if u.Terminal() {
		t.Error("a nil UI says it is a terminal")
	}
	if n, err := u.Writer().Write([]byte("z")); n != 1 || err != nil {
		t.Errorf("Writer().Write = %d, %v", n, err)
	}
	b := u.Bar("push", 100)
	b.Set(50, 100)
	b.Finish()
}

func TestLastLines(t *testing.T) {
	for _, tt := range []struct {
		in   string
		n    int
		want []string
	}{
		{"", 3, nil},
		{" \n\n", 3, nil},
		{"a\nb\r\nc\n", 2, []string{"b", "c"}},
		{"a\nb", 5, []string{"a", "b"}},
	} {
		if got := LastLines(tt.in, tt.n); !slices.Equal(got, tt.want) {
			t.Errorf("LastLines(%q, %d) = %q, want %q", tt.in, tt.n, got, tt.want)
		}
	}
}
