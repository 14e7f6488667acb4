// The carrier samples and the file-event helpers the carrier lab tests
// (nginx, mail, proxy) share.

package main

import (
	"strings"
	"testing"
	"time"

	"github.com/edgesensor/edgesensor/internal/testutil/carriers"
)

// carrierSample is a harmless file built like one of today's malware
// carriers, with the category the sensor must give it and, where the
// walk into it is what tells, a reason it must give.
type carrierSample struct {
	body     []byte
	category string
	rule     string
}

// carrierSamples are today's carriers by file name; the containers hold
// pe: an ISO, a VHDX and a VHD each with a FAT volume (the PE and an LNK
// running powershell beside it), a JPEG with a zip appended.
func carrierSamples(pe []byte) map[string]carrierSample {
	ps := `C:\Windows\System32\WindowsPowerShell\v1.0\powershell.exe`
	lnk := carriers.LNK(ps, "-w hidden -c calc", "", true)
	volume := carriers.FAT(map[string][]byte{"invoice.exe": pe, "invoice.pdf.lnk": lnk})
	return map[string]carrierSample{
		"lure.iso":        {carriers.ISO(map[string][]byte{"invoice.exe": pe}), "disk_image", "archive.executable_inside"},
		"disk.vhdx":       {carriers.VHDXDisk(carriers.MBRDisk(volume, 0x01)), "disk_image", "archive.executable_inside"},
		"disk.vhd":        {carriers.VHD(carriers.MBRDisk(volume, 0x01), true), "disk_image", "archive.shortcut_inside"},
		"invoice.pdf.lnk": {lnk, "shortcut", "lnk.runs_interpreter"},
		"notes.one":       {carriers.OneNote(carriers.HTA()), "document", "onenote.embedded_file"},
		"help.chm":        {carriers.CHMShortcut(), "document", "chm.shortcut_command"},
		"invoice.hta":     {carriers.HTA(), "script", "script.hta"},
		"update.ps1":      {carriers.PowerShellCradle(), "script", "script.download_cradle"},
		"holiday.jpg":     {carriers.PictureZip(carriers.JPEG(64, 64, 1), map[string][]byte{"setup.exe": pe}), "archive", "polyglot.appended_archive"},
	}
}

// readFileEvents are the file events written so far to the sensor's
// events file (a line being written is left out).
func readFileEvents(t *testing.T, path string) []fileEvent {
	t.Helper()
	return parseFileEvents(t, []byte(strings.Join(completeLines(path), "\n")))
}

// waitFileEvents reads the sensor's file events until ok says they are
// all there or d passes, and returns the last read.
func waitFileEvents(t *testing.T, path string, ok func([]fileEvent) bool, d time.Duration) []fileEvent {
	t.Helper()
	for end := time.Now().Add(d); ; time.Sleep(200 * time.Millisecond) {
		if evs := readFileEvents(t, path); ok(evs) || time.Now().After(end) {
			return evs
		}
	}
}

// eventFor is the event of the file with this name to this server port,
// the last if there are several.
func eventFor(evs []fileEvent, name string, port int) *fileEvent {
	var found *fileEvent
	for i := range evs {
		if evs[i].File.Name == name && evs[i].Destination.Port == port {
			found = &evs[i]
		}
	}
	return found
}

// countFor is the number of events of the file with this name to this
// server port.
func countFor(evs []fileEvent, name string, port int) (n int) {
	for _, ev := range evs {
		if ev.File.Name == name && ev.Destination.Port == port {
			n++
		}
	}
	return n
}

// allReported says whether every sample has an event to this server
// port.
func allReported(samples map[string]carrierSample, port int) func([]fileEvent) bool {
	return func(evs []fileEvent) bool {
		for name := range samples {
			if eventFor(evs, name, port) == nil {
				return false
			}
		}
		return true
	}
}

// checkFileEvent checks that a file was reported whole with its category
// and the SHA-256 of the original.
func checkFileEvent(t *testing.T, what string, e *fileEvent, category string, body []byte) {
	t.Helper()
	if e == nil {
		t.Errorf("%s: no event", what)
		return
	}
	if e.Edgesensor.File.Category != category || !e.Edgesensor.File.Complete || e.File.Hash == nil ||
		e.File.Hash.SHA256 != sha256Hex(body) {
		t.Errorf("%s: %+v, want %s, complete, sha256 %s", what, e, category, sha256Hex(body))
	}
}

// checkCarrier checks a carrier's event: category, whole, the SHA-256 of
// the original and the reason that shows it was looked into.
func checkCarrier(t *testing.T, what string, e *fileEvent, s carrierSample) {
	t.Helper()
	checkFileEvent(t, what, e, s.category, s.body)
	if e != nil && s.rule != "" && !e.Edgesensor.Score.has(s.rule) {
		t.Errorf("%s: no %s reason: %+v", what, s.rule, e.Edgesensor.Score)
	}
}
