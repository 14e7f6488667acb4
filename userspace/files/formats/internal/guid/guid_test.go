package guid

import (
	"bytes"
	"testing"
)

// The GPT type of a Windows basic data partition, as the disk stores it
// (UEFI 2.10, table 5.7, and its bytes on disk).
func TestRoundTrip(t *testing.T) {
	const s = "EBD0A0A2-B9E5-4433-87C0-68B6B72699C7"
	want := []byte{0xA2, 0xA0, 0xD0, 0xEB, 0xE5, 0xB9, 0x33, 0x44, 0x87, 0xC0, 0x68, 0xB6, 0xB7, 0x26, 0x99, 0xC7}
	if b := Bytes(s); !bytes.Equal(b, want) {
		t.Fatalf("Bytes: % X", b)
	}
	if got := String(want); got != s {
		t.Fatalf("String: %s", got)
	}
}

func TestMalformedPanics(t *testing.T) {
	for _, s := range []string{"", "EBD0A0A2-B9E5-4433-87C0-68B6B72699CZ", "EBD0A0A2B9E5443387C068B6B72699C7"} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%q: no panic", s)
				}
			}()
			Bytes(s)
		}()
	}
}
