package testutil

import (
	"encoding/hex"
	"encoding/json"
	"os"
	"strings"
	"testing"
)

// TLSTruth is one handshake of a corpus capture as independent tools saw
// it: JA3 and JA3S by Wireshark, JA4 by its authors' reference code.
type TLSTruth struct {
	ClientPort int    `json:"client_port"`
	ServerPort int    `json:"server_port"`
	SNI        string `json:"sni"`
	JA3        string `json:"ja3"`
	JA3S       string `json:"ja3s"`
	JA4        string `json:"ja4"`
}

// Truth is a corpus capture's .truth.json (the parts tests read).
type Truth struct {
	TLS      []TLSTruth  `json:"tls"`
	Files    []FileTruth `json:"files"`
	NotFiles []FileTruth `json:"not_files"`
}

// FileTruth is a file that crossed the wire in a corpus capture: the name
// and SHA-256 (and size) of the original file on the server.
type FileTruth struct {
	Name   string `json:"name"`
	SHA256 string `json:"sha256"`
	Size   int64  `json:"size"`
}

// ReadTruth reads the truth file at path.
func ReadTruth(t testing.TB, path string) Truth {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var tr Truth
	if err := json.Unmarshal(b, &tr); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return tr
}

// ReadHex reads a file of hex digits (whitespace ignored), as the RFC
// test vectors are kept.
func ReadHex(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	out, err := hex.DecodeString(strings.Join(strings.Fields(string(b)), ""))
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return out
}
