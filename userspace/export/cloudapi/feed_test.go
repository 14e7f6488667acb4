package cloudapi

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

// Frames round-trip; a frame cut short, a length past the bound or not a
// number is an error, and what came before it was handed over.
func TestFeedFrames(t *testing.T) {
	var b bytes.Buffer
	msgs := [][]byte{[]byte("one"), {}, []byte("three\nlines\n")}
	if err := WriteFeedFrames(&b, msgs); err != nil {
		t.Fatal(err)
	}
	var got [][]byte
	collect := func(m []byte) error { got = append(got, m); return nil }
	if err := ReadFeedFrames(&b, collect); err != nil || len(got) != 3 || string(got[2]) != "three\nlines\n" {
		t.Fatalf("%q, %v", got, err)
	}
	for _, c := range []struct{ name, in string }{
		{"cut short", "5\nabc"},
		{"past the bound", "999999999999\nx"},
		{"not a number", "x\nabc"},
		{"no newline", "12"},
	} {
		got = nil
		err := ReadFeedFrames(strings.NewReader("2\nok"+c.in), collect)
		if err == nil || len(got) != 1 {
			t.Errorf("%s: %v, %d frames before it", c.name, err, len(got))
		}
	}
	stop := errors.New("stop")
	if err := ReadFeedFrames(strings.NewReader("1\na1\nb"), func([]byte) error { return stop }); !errors.Is(err, stop) {
		t.Errorf("fn's error: %v", err)
	}
}
