package alertpcap

import (
	"bytes"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/edgesensor/edgesensor/userspace/export/ecs/communityid"
)

// TestCorpusCaptureReadByTshark feeds a real TLS 1.3 connection (curl)
// as events, client packets on one interface and server packets on
// another, captures it and reads the file back with tshark and capinfos:
// every packet, byte for byte with its nanosecond time, the two
// interfaces by name, the ClientHello dissected, the comments.
func TestCorpusCaptureReadByTshark(t *testing.T) {
	evs, client, server := corpusEvents(t, "tls_curl13.pcap", "veth-client", "veth-server")
	dir := t.TempDir()
	k := newKeeper(t, testSettings(dir))
	for _, ev := range evs {
		frame := ev.Frame
		ev.Frame = append([]byte(nil), frame...)
		k.Observe(ev)
		clear(ev.Frame) // the data plane reuses its buffer: the keeper must have copied
		ev.Frame = frame
	}
	key, err := NewFlowKey(client, server, "tcp")
	if err != nil {
		t.Fatal(err)
	}
	cid := communityid.String(0, 6, client, server)
	when := time.Date(2026, 11, 23, 0, 47, 3, 123456789, time.UTC)
	path, err := k.Capture(key, when, cid, "evt-42", "score 9: ja4 on the blocklist")
	if err != nil {
		t.Fatal(err)
	}
	wantName := "20261123T004703.123456789Z_" + strings.NewReplacer("/", "_", "+", "-", ":", "").Replace(cid) + ".pcapng"
	if filepath.Base(path) != wantName || filepath.Dir(path) != dir {
		t.Fatalf("path %s, want %s in %s", path, wantName, dir)
	}

	// An independent reader first (runs without Wireshark).
	got := readNg(t, path)
	if len(got) != len(evs) {
		t.Fatalf("gopacket reads %d packets, want %d", len(got), len(evs))
	}
	for i, p := range got {
		ev := evs[i]
		if !bytes.Equal(p.data, ev.Frame) || !p.ci.Timestamp.Equal(ev.Time) || p.ci.Length != ev.FrameLen || p.iface != ev.Interface {
			t.Errorf("packet %d: %d bytes at %v on %s, want %d at %v on %s", i+1, len(p.data), p.ci.Timestamp, p.iface, len(ev.Frame), ev.Time, ev.Interface)
		}
	}

	// tshark: count, times to the nanosecond, interface names, comment.
	out := tool(t, "tshark", "-r", path, "-T", "fields", "-E", "separator=|",
		"-e", "frame.number", "-e", "frame.time_epoch", "-e", "frame.interface_name", "-e", "frame.len", "-e", "frame.comment")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != len(evs) {
		t.Fatalf("tshark shows %d packets, want %d:\n%s", len(lines), len(evs), out)
	}
	for i, l := range lines {
		f := strings.Split(l, "|")
		ev := evs[i]
		wantTime := fmt.Sprintf("%d.%09d", ev.Time.Unix(), ev.Time.Nanosecond())
		if f[1] != wantTime || f[2] != ev.Interface || f[3] != strconv.Itoa(ev.FrameLen) {
			t.Errorf("tshark packet %d: %q, want time %s on %s, %d bytes", i+1, l, wantTime, ev.Interface, ev.FrameLen)
		}
		wantComment := ""
		if i == 0 {
			wantComment = "edgesensor alert evt-42: score 9: ja4 on the blocklist"
		}
		if f[4] != wantComment {
			t.Errorf("tshark packet %d comment %q, want %q", i+1, f[4], wantComment)
		}
	}
	hello := tool(t, "tshark", "-r", path, "-Y", "tls.handshake.type==1", "-T", "fields", "-e", "frame.number", "-e", "tls.handshake.extensions_server_name")
	if f := strings.Fields(hello); len(f) < 1 || f[0] != "4" {
		t.Errorf("tshark finds the ClientHello in %q, want packet 4", hello)
	}

	info := tool(t, "capinfos", path)
	for _, want := range []string{
		"pcapng", "Number of packets:   19", "nanoseconds",
		"Capture application: edgesensor",
		"Capture comment:     edgesensor capture on alert: tcp 10.200.0.1:40108 <-> 10.200.0.2:443",
		"Capture comment:     event.id: evt-42",
		"Capture comment:     reason: score 9: ja4 on the blocklist",
		"Number of interfaces in file: 2",
		"Name = veth-client", "Name = veth-server", "Encapsulation = Ethernet",
	} {
		if !strings.Contains(info, want) {
			t.Errorf("capinfos lacks %q:\n%s", want, info)
		}
	}
	if t.Failed() {
		t.Logf("capinfos:\n%s", info)
	}
}

// TestSnaplenCut: frames are kept up to the snaplen and written with
// their length on the wire.
func TestSnaplenCut(t *testing.T) {
	s := testSettings(t.TempDir())
	s.Snaplen = 64
	k := newKeeper(t, s)
	ev := pktEvent(flowPkt(1, 1, 400), t0, "eth0", 2)
	k.Observe(ev)
	path, err := k.Capture(EventKey(ev), t0, "", "e", "r")
	if err != nil {
		t.Fatal(err)
	}
	got := readNg(t, path)
	if len(got) != 1 || !bytes.Equal(got[0].data, ev.Frame[:64]) || got[0].ci.Length != len(ev.Frame) {
		t.Fatalf("read %+v, want 64 of %d bytes", got, len(ev.Frame))
	}
	out := tool(t, "tshark", "-r", path, "-T", "fields", "-e", "frame.cap_len", "-e", "frame.len")
	if want := "64\t" + strconv.Itoa(len(ev.Frame)); strings.TrimSpace(out) != want {
		t.Errorf("tshark: %q, want %q", out, want)
	}
}

// TestCommentsCleaned: an event id or reason that is no valid UTF-8, or
// too long, still makes a file Wireshark reads.
func TestCommentsCleaned(t *testing.T) {
	k := newKeeper(t, testSettings(t.TempDir()))
	ev := pktEvent(flowPkt(1, 1, 10), t0, "eth0", 2)
	k.Observe(ev)
	reason := "bad \xff\xfe bytes " + strings.Repeat("é", 2000)
	path, err := k.Capture(EventKey(ev), t0, "", "id\x00x", reason)
	if err != nil {
		t.Fatal(err)
	}
	out := tool(t, "tshark", "-r", path, "-T", "fields", "-e", "frame.comment")
	if !strings.HasPrefix(out, "edgesensor alert id x: bad") || !strings.Contains(out, "bad \uFFFD") {
		t.Errorf("comment %q", out)
	}
	if n := len(strings.TrimSpace(out)); n > maxComment+100 {
		t.Errorf("comment of %d bytes, want it cut near %d", n, maxComment)
	}
}

// TestBlockLayout checks the blocks' framing directly: lengths at both
// ends agree and are multiples of 4.
func TestBlockLayout(t *testing.T) {
	b := appendSHB(nil, "a", "bcdef")
	b = appendIDB(b, "eth0", 65535)
	b = appendEPB(b, 0, 1, []byte{1, 2, 3}, 70, "x")
	b = appendEPB(b, 0, 2, []byte{1, 2, 3, 4}, 0, "")
	var types []uint32
	for len(b) > 0 {
		typ, n := le.Uint32(b), int(le.Uint32(b[4:]))
		if n%4 != 0 || n > len(b) || int(le.Uint32(b[n-4:])) != n {
			t.Fatalf("block %#x: length %d of %d bytes left", typ, n, len(b))
		}
		types = append(types, typ)
		b = b[n:]
	}
	if want := []uint32{blockSHB, blockIDB, blockEPB, blockEPB}; !equalU32(types, want) {
		t.Fatalf("blocks %x, want %x", types, want)
	}
	if got := cleanOption("aé", 2); got != "a" {
		t.Errorf("cleanOption cut inside a rune: %q", got)
	}
}

func equalU32(a, b []uint32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestFileNames: the community id is made safe; only the keeper's names
// are its files.
func TestFileNames(t *testing.T) {
	for in, want := range map[string]string{
		"1:hO+sN4H+MG5MY/8hIrXPqc4ZQz0=": "1hO-sN4H-MG5MY_8hIrXPqc4ZQz0=",
		"../../etc/passwd":               "__etc_passwd",
		"":                               "",
		strings.Repeat("a", 100):         strings.Repeat("a", maxIDChars),
	} {
		if got := fileID(in); got != want {
			t.Errorf("fileID(%q) = %q, want %q", in, got, want)
		}
	}
	for name, want := range map[string]bool{
		"20261123T004703.123456789Z_1abc=.pcapng":   true,
		"20261123T004703.123456789Z_1abc=_2.pcapng": true,
		"20261123T004703.123456789Z_.pcapng":        true,
		"20261123T004703.123Z_1abc.pcapng":          false,
		"notes.pcapng":                              false,
		"20261123T004703.123456789Z_1abc=.pcap":     false,
	} {
		if got := isCaptureName(name); got != want {
			t.Errorf("isCaptureName(%q) = %v", name, got)
		}
	}
	// The names sort in time order.
	a := time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC).Format(timeLayout)
	b := time.Date(2026, 1, 2, 3, 4, 5, 70, time.UTC).Format(timeLayout)
	if !(a < b) || len(a) != len(timeLayout) {
		t.Errorf("%s !< %s", a, b)
	}
}
