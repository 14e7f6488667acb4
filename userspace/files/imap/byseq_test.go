package imap

import "testing"

func TestBySeqBounds(t *testing.T) {
	tb := newBySeq[string](3, 10)
	for seq, v := range []string{"aa", "bb", "cc"} {
		if tb.put(uint32(seq), v, len(v)) {
			t.Fatalf("cleared at %d", seq)
		}
	}
	// Replacing an entry gives its bytes back first.
	if tb.put(1, "bbbb", 4) || tb.bytes != 8 || tb.len() != 3 {
		t.Fatalf("replace: %d bytes, %d entries", tb.bytes, tb.len())
	}
	// A fourth entry passes the count: emptied, then kept.
	if !tb.put(9, "z", 1) || tb.len() != 1 || tb.bytes != 1 {
		t.Fatalf("count bound: %d bytes, %d entries", tb.bytes, tb.len())
	}
	if v, ok := tb.get(9); !ok || v != "z" {
		t.Fatalf("get %q %v", v, ok)
	}
	if _, ok := tb.get(0); ok {
		t.Fatal("an emptied entry is still there")
	}
	// Past the bytes: emptied, then kept.
	if !tb.put(10, "0123456789", 10) || tb.bytes != 10 || tb.len() != 1 {
		t.Fatalf("bytes bound: %d bytes, %d entries", tb.bytes, tb.len())
	}
	tb.reset()
	if tb.len() != 0 || tb.bytes != 0 {
		t.Fatal("reset")
	}
}
