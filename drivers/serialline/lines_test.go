package serialline

import (
	"bytes"
	"slices"
	"testing"
	"time"
)

func TestSplitter(t *testing.T) {
	tests := []struct {
		name        string
		term        byte
		stripCR     bool
		max         int
		chunks      []string
		want        []string
		wantTooLong int
		wantPartial bool
	}{
		{"one chunk", '\n', true, 10, []string{"a=1\nb=2\n"}, []string{"a=1", "b=2"}, 0, false},
		{"split across chunks", '\n', true, 10, []string{"a=", "1\nb", "=2", "\n"}, []string{"a=1", "b=2"}, 0, false},
		{"crlf", '\n', true, 10, []string{"a\r\nb\r", "\n"}, []string{"a", "b"}, 0, false},
		{"cr kept without stripCR", '\n', false, 10, []string{"a\r\n"}, []string{"a\r"}, 0, false},
		{"cr terminator", '\r', false, 10, []string{"a\rb\r"}, []string{"a", "b"}, 0, false},
		{"blank lines kept", '\n', true, 10, []string{"\n\na\n"}, []string{"", "", "a"}, 0, false},
		{"exactly max", '\n', true, 3, []string{"abc\nabc\r\n"}, []string{"abc", "abc"}, 0, false},
		{"over max in one chunk", '\n', true, 3, []string{"abcd\nok\n"}, []string{"ok"}, 1, false},
		{"over max across chunks", '\n', true, 3, []string{"ab", "cd", "efgh", "ij\nok\n"}, []string{"ok"}, 1, false},
		{"max plus cr without terminator", '\n', true, 3, []string{"abcd", "\nok\n"}, []string{"ok"}, 1, false},
		{"max then cr", '\n', true, 3, []string{"abc\r", "\n"}, []string{"abc"}, 0, false},
		{"max plus one non-cr", '\n', true, 3, []string{"abcx\n"}, nil, 1, false},
		{"two over-long lines", '\n', true, 2, []string{"xxxx\nyyyy\nok\n"}, []string{"ok"}, 2, false},
		{"partial at end", '\n', true, 10, []string{"a\nb="}, []string{"a"}, 0, true},
		{"over-long at end is not partial", '\n', true, 2, []string{"a\nbbbbb"}, []string{"a"}, 1, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newSplitter(tc.term, tc.stripCR, tc.max)
			var got []string
			tooLong := 0
			for _, c := range tc.chunks {
				s.feed([]byte(c), func(b []byte) { got = append(got, string(b)) }, func() { tooLong++ })
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("lines = %q, want %q", got, tc.want)
			}
			if tooLong != tc.wantTooLong {
				t.Errorf("too long = %d, want %d", tooLong, tc.wantTooLong)
			}
			if p := s.reset(); p != tc.wantPartial {
				t.Errorf("reset() = %v, want %v", p, tc.wantPartial)
			}
			if p := s.reset(); p {
				t.Errorf("second reset() = true, want false")
			}
		})
	}
}

// FuzzSplitter checks that feeding a stream in any chunking gives the lines
// of bytes.Split, minus those over max.
func FuzzSplitter(f *testing.F) {
	f.Add([]byte("a=1\nb=2\r\n\nlong line here\nx"), uint8(3), uint8(5))
	f.Add([]byte("\r\n\r\r\n"), uint8(1), uint8(0))
	f.Fuzz(func(t *testing.T, data []byte, chunk, max uint8) {
		n := int(chunk%16) + 1
		s := newSplitter('\n', true, int(max))
		var got [][]byte
		for p := data; len(p) > 0; {
			c := p[:min(n, len(p))]
			p = p[len(c):]
			s.feed(c, func(b []byte) { got = append(got, bytes.Clone(b)) }, func() {})
		}
		var want [][]byte
		parts := bytes.Split(data, []byte("\n"))
		for _, l := range parts[:len(parts)-1] {
			l = bytes.TrimSuffix(l, []byte("\r"))
			if len(l) <= int(max) {
				want = append(want, l)
			}
		}
		if !slices.EqualFunc(got, want, bytes.Equal) {
			t.Fatalf("chunks of %d, max %d: lines %q, want %q", n, max, got, want)
		}
	})
}

func TestNextWait(t *testing.T) {
	d := &Driver{cfg: Config{ReopenMin: 10 * time.Millisecond, ReopenMax: 50 * time.Millisecond}}
	var got []time.Duration
	for w := time.Duration(0); len(got) < 5; {
		w = d.nextWait(w)
		got = append(got, w)
	}
	want := []time.Duration{10, 20, 40, 50, 50}
	for i := range want {
		want[i] *= time.Millisecond
	}
	if !slices.Equal(got, want) {
		t.Errorf("waits = %v, want %v", got, want)
	}
}
