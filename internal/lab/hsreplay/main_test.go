package main

import (
	"bytes"
	"net"
	"testing"

	"github.com/edgesensor/edgesensor/internal/lab/wire"
)

// patch gives the same bytes as building the frame with the new values.
func TestPatchEqualsRebuild(t *testing.T) {
	for _, fromClient := range []bool{true, false} {
		seg := wire.Synthetic([]byte("\x16\x03\x01 a hello"), fromClient)
		f, err := seg.Frames(1024, nil)
		if err != nil {
			t.Fatal(err)
		}
		got := append([]byte(nil), f[0]...)
		const ip, tcp = 14, 34
		ipOff, portOff := ip+12+2, tcp
		if !fromClient {
			ipOff, portOff = ip+16+2, tcp+2
		}
		patch(got, ipOff, 1*256+9, ip+10, tcp+16) // 10.0.1.2 -> 10.0.1.9
		patch(got, portOff, 5000, tcp+16)

		moved := seg
		moved.IP = seg.IP
		if fromClient {
			moved.IP.SrcIP = net.IP{10, 0, 1, 9}
		} else {
			moved.IP.DstIP = net.IP{10, 0, 1, 9}
		}
		want, err := moved.Frames(5000, nil)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want[0]) {
			t.Errorf("from client %v: patched\n%x\nrebuilt\n%x", fromClient, got, want[0])
		}
	}
}
