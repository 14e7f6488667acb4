package anon

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net/netip"
	"testing"
)

func TestTruncate(t *testing.T) {
	tests := []struct {
		in     string
		v4, v6 int
		want   string
	}{
		{"192.0.2.123", 24, 48, "192.0.2.0"},
		{"192.0.2.123", 16, 48, "192.0.0.0"},
		{"192.0.2.123", 32, 48, "192.0.2.123"},
		{"192.0.2.123", 0, 48, "0.0.0.0"},
		{"192.0.2.123", 99, 48, "192.0.2.123"}, // clamped
		{"192.0.2.123", -5, 48, "0.0.0.0"},     // clamped
		{"::ffff:192.0.2.123", 24, 48, "192.0.2.0"},
		{"2001:db8:abcd:1234:5678::1", 24, 48, "2001:db8:abcd::"},
		{"2001:db8:abcd:1234:5678::1", 24, 64, "2001:db8:abcd:1234::"},
		{"2001:db8:abcd:ffff::1", 24, 52, "2001:db8:abcd:f000::"},
		{"fe80::1234%eth0", 24, 10, "fe80::"},
		{"2001:db8::1", 24, 200, "2001:db8::1"},
	}
	for _, tt := range tests {
		got := Truncate(netip.MustParseAddr(tt.in), tt.v4, tt.v6)
		if got != netip.MustParseAddr(tt.want) {
			t.Errorf("Truncate(%s, %d, %d) = %s, want %s", tt.in, tt.v4, tt.v6, got, tt.want)
		}
	}
	if got := Truncate(netip.Addr{}, 24, 48); got.IsValid() {
		t.Errorf("Truncate(zero) = %s", got)
	}
}

func TestHMACAddr(t *testing.T) {
	key := []byte("0123456789abcdef0123456789abcdef")
	// Expected value built independently: HMAC over the raw 4 bytes.
	m := hmac.New(sha256.New, key)
	m.Write([]byte{192, 0, 2, 1})
	want := hex.EncodeToString(m.Sum(nil))[:32]
	if got := HMACAddr(key, netip.MustParseAddr("192.0.2.1")); got != want {
		t.Errorf("HMACAddr(192.0.2.1) = %s, want %s", got, want)
	}
	if got := HMACAddr(key, netip.MustParseAddr("::ffff:192.0.2.1")); got != want {
		t.Errorf("4-in-6 should hash as IPv4: %s, want %s", got, want)
	}
	v6 := HMACAddr(key, netip.MustParseAddr("2001:db8::1"))
	if len(v6) != 32 || v6 == want {
		t.Errorf("HMACAddr(v6) = %q", v6)
	}
	if v6 != HMACAddr(key, netip.MustParseAddr("2001:db8::1%eth0")) {
		t.Error("zone changed the hash")
	}
	if HMACAddr([]byte("other key"), netip.MustParseAddr("192.0.2.1")) == want {
		t.Error("key did not change the hash")
	}
	if got := HMACAddr(key, netip.Addr{}); got != "" {
		t.Errorf("HMACAddr(zero) = %q", got)
	}
}
