// Tests of the capture files on disk: the quota, what a restart finds, and
// the files' names.

package alertpcap

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/edgesensor/edgesensor/userspace/datapath"
)

// TestQuotaThousandCaptures writes 1,000 captures of about 100 KB into a
// 50 MB quota: the directory stays under it, the oldest files go first,
// counted, and the accounting matches the directory.
func TestQuotaThousandCaptures(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	dir := t.TempDir()
	s := testSettings(dir)
	s.Quota = 50 * 1000 * 1000
	k := newKeeper(t, s)
	var paths []string
	for i := 0; i < 1000; i++ {
		var ev *datapath.Event
		for seq := uint32(1); seq <= 64; seq++ {
			ev = pktEvent(flowPkt(i, seq, 1500), t0.Add(time.Duration(i)*time.Second), "eth0", 2)
			k.Observe(ev)
		}
		p, err := k.Capture(EventKey(ev), t0.Add(time.Duration(i)*time.Second), "", fmt.Sprint("e", i), "test")
		if err != nil {
			t.Fatal(err)
		}
		paths = append(paths, p)
		if i%100 == 99 {
			if _, size := dirBytes(t, dir); size > int64(s.Quota) {
				t.Fatalf("capture %d: %d bytes on disk, over %d", i, size, s.Quota)
			}
		}
	}
	st := k.Stats()
	files, size := dirBytes(t, dir)
	if size > int64(s.Quota) || uint64(size) != st.BytesOnDisk || uint64(files) != st.FilesOnDisk {
		t.Fatalf("disk %d files %d bytes; stats %+v", files, size, st)
	}
	if st.FilesWritten != 1000 || st.FilesEvicted != 1000-st.FilesOnDisk || st.FilesEvicted == 0 || st.WriteErrors != 0 {
		t.Fatalf("stats %+v", st)
	}
	// The survivors are the newest.
	for i, p := range paths {
		_, err := os.Stat(p)
		if exists, want := err == nil, uint64(i) >= 1000-st.FilesOnDisk; exists != want {
			t.Fatalf("file %d exists %v, want %v", i, exists, want)
		}
	}
	t.Logf("%d files kept (%d bytes), %d evicted", st.FilesOnDisk, st.BytesOnDisk, st.FilesEvicted)
}

// TestRestartAccountsExistingFiles: a new keeper counts the files a
// previous one left, deletes the oldest of them when the quota was
// lowered, leaves other files alone and removes abandoned temporary
// files; writing, it deletes the oldest first.
func TestRestartAccountsExistingFiles(t *testing.T) {
	dir := t.TempDir()
	s := bigFlowSettings(dir)
	k1 := newKeeper(t, s)
	var paths []string
	for i := 0; i < 5; i++ {
		p := writeBig(t, k1, i)
		// Modification times in capture order, as a long run makes them.
		mt := time.Now().Add(time.Duration(i-10) * time.Minute)
		if err := os.Chtimes(p, mt, mt); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, p)
	}
	size1 := k1.Stats().BytesOnDisk
	foreign := []string{filepath.Join(dir, "notes.pcapng"), filepath.Join(dir, "README")}
	for _, f := range foreign {
		if err := os.WriteFile(f, make([]byte, 4<<20), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	tmp := filepath.Join(dir, tmpPrefix+"123"+tmpSuffix)
	if err := os.WriteFile(tmp, []byte("half"), 0o600); err != nil {
		t.Fatal(err)
	}

	k2 := newKeeper(t, s)
	st := k2.Stats()
	if st.FilesOnDisk != 5 || st.BytesOnDisk != size1 || st.FilesEvicted != 0 {
		t.Fatalf("restart accounts %d files, %d bytes; want 5, %d", st.FilesOnDisk, st.BytesOnDisk, size1)
	}
	if _, err := os.Stat(tmp); !os.IsNotExist(err) {
		t.Errorf("temporary file left: %v", err)
	}

	// The quota lowered to 1MiB (about three files): the oldest go at start.
	s.Quota = minQuota
	k3 := newKeeper(t, s)
	st = k3.Stats()
	if st.BytesOnDisk > minQuota || st.FilesOnDisk >= 5 || st.FilesEvicted != 5-st.FilesOnDisk {
		t.Fatalf("stats %+v", st)
	}
	exists := func(p string) bool { _, err := os.Stat(p); return err == nil }
	for i, p := range paths {
		if got, want := exists(p), uint64(i) >= 5-st.FilesOnDisk; got != want {
			t.Errorf("file %d exists %v, want %v", i, got, want)
		}
	}
	// Writing deletes the oldest of the earlier run's files first.
	oldest := paths[5-st.FilesOnDisk]
	writeBig(t, k3, 10)
	if exists(oldest) || !exists(paths[4]) {
		t.Errorf("after a write: oldest exists %v, newest %v", exists(oldest), exists(paths[4]))
	}
	if _, size := dirBytes(t, dir); size > minQuota {
		t.Errorf("%d bytes on disk", size)
	}
	for _, f := range foreign {
		if _, err := os.Stat(f); err != nil {
			t.Errorf("a file not the keeper's was touched: %v", err)
		}
	}
}

// TestSecondCapture: with nothing new the first file is returned; after
// new packets a second file holds them all; a name taken gets a suffix.
func TestSecondCapture(t *testing.T) {
	dir := t.TempDir()
	k := newKeeper(t, testSettings(dir))
	ev := pktEvent(flowPkt(1, 1, 100), t0, "eth0", 2)
	k.Observe(ev)
	key := EventKey(ev)
	p1, err := k.Capture(key, t0, "1:x/y+z", "e1", "first")
	if err != nil {
		t.Fatal(err)
	}
	if filepath.Base(p1) != "20260314T150926.535897932Z_1x_y-z.pcapng" {
		t.Errorf("name %s", filepath.Base(p1))
	}
	p2, err := k.Capture(key, t0.Add(time.Second), "1:x/y+z", "e2", "again")
	if err != nil || p2 != p1 {
		t.Fatalf("second capture with nothing new: %s, %v; want %s", p2, err, p1)
	}
	k.Observe(pktEvent(flowPkt(1, 2, 100), t0.Add(time.Millisecond), "eth1", 3))
	p3, err := k.Capture(key, t0, "1:x/y+z", "e3", "more")
	if err != nil {
		t.Fatal(err)
	}
	if p3 == p1 || !strings.HasSuffix(p3, "_1x_y-z_2.pcapng") {
		t.Fatalf("third capture %s", p3)
	}
	if got := readNg(t, p3); len(got) != 2 || got[0].iface != "eth0" || got[1].iface != "eth1" {
		t.Fatalf("third file: %+v", got)
	}
	// The quota deleted the file: the next capture writes again.
	if err := os.Remove(p3); err != nil {
		t.Fatal(err)
	}
	k.files.mu.Lock()
	delete(k.files.names, filepath.Base(p3))
	k.files.mu.Unlock()
	p4, err := k.Capture(key, t0, "", "e4", "")
	if err != nil || p4 == p3 {
		t.Fatalf("capture after the file went: %s, %v", p4, err)
	}
	if st := k.Stats(); st.FilesWritten != 3 {
		t.Errorf("%d files written, want 3", st.FilesWritten)
	}
	if _, err := k.Capture(KeyFor(6, netip.MustParseAddrPort("1.1.1.1:1"), netip.MustParseAddrPort("2.2.2.2:2")), t0, "", "", ""); !errors.Is(err, ErrNoFlow) {
		t.Errorf("unknown flow: %v", err)
	}
}
