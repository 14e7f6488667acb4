package filetype

import "testing"

// Text the library calls something else (an image, PostScript, a
// playlist) is still text to sniffScript, both ways: a script opening
// with "/* XPM */" or "GIF89a=" and named .js runs under wscript.
func TestTextShortcutLibraryTextTypes(t *testing.T) {
	cases := []struct{ name, head, kind string }{
		{"a.js", "/* XPM */\nWScript.Echo(1);\n", KindJScript},
		{"b.vbs", "%!PS-Adobe-3.0\nMsgBox 1\n", KindVBScript},
		{"c.hta", "<svg xmlns=\"http://www.w3.org/2000/svg\"><hta:application id=x/></svg>", KindHTA},
		{"d.js", "#EXTM3U\nWScript.Echo(1)\n", KindJScript},
		{"e.bat", "%FDF-1.2\necho x\n", KindBatch},
		// The GIF/JS polyglot: a picture's header, then code.
		{"f.js", "GIF89a/*\x20\x20\x20\x20\x20*/=1;WScript.Echo(1);\n", KindJScript},
	}
	for _, c := range cases {
		for _, short := range []bool{true, false} {
			textShortcut = short
			got := Detect([]byte(c.head), c.name, "", -1)
			textShortcut = true
			if got.Kind != c.kind {
				t.Errorf("%s (shortcut %v): %+v, want %s", c.name, short, got, c.kind)
			}
		}
	}
	// A printable picture head keeps the library's MIME (a polyglot's
	// event shows it), and is still a picture.
	gif := []byte("GIF89a\x20\x20\x20\x20\x20\x20\x20;PK junk after the trailer")
	got := Detect(gif, "a.gif", "image/gif", -1)
	if got.MIME != "image/gif" || got.Mismatch || Picture(got, gif) != KindGIF {
		t.Errorf("printable GIF: %+v, picture %q", got, Picture(got, gif))
	}
}

// The two ways agree on every opening the library has a printable
// signature for, whatever the name: a fixed sweep the fuzzer need not
// stumble on.
func TestTextShortcutSweep(t *testing.T) {
	openings := []string{
		"/* XPM */\n", "%!PS-Adobe-3.0\n", "%FDF-1.2\n", "#EXTM3U\n", "d8:announce3:abc",
		"AT&TFORM\x20\x20\x20\x20DJVU", "#?RADIANCE\n", "<?xml version=\"1.0\"?><svg xmlns=\"x\">",
		"<html><body>", "{\"a\": 1}\n", "BEGIN:VCARD\n", "BEGIN:VCALENDAR\n", "WEBVTT\n",
		"#!/bin/sh\n", "@echo off\n", "P1\n2 2\n", "P3\n2 2\n255\n", "GIF89a\x20\x20\x20\x20\x20\x20\x20;",
		"RIFF\x20\x20\x20\x20WEBPVP8 ", "BZh91AY&SY", "%PDF-1.7\n", "x^", "0\nSECTION\n",
		"[InternetShortcut]\nURL=file://x\n", "MZ is a name", "Rar!", "7z", "<job><script>", "<hta:application>",
		"\xef\xbb\xbfWScript.Echo(1)\n", "#!/usr/bin/env python3\n", "import os\n", "ustar", "PK",
	}
	names := []string{"a.js", "a.vbs", "a.hta", "a.bat", "a.ps1", "a.exe", "a.bin", "a.txt", "a.jpg", "a.gif", ""}
	for _, o := range openings {
		head := []byte(o + "WScript.Echo(1);\nMsgBox 1\n")
		for _, n := range names {
			got := Detect(head, n, "", -1)
			textShortcut = false
			long := Detect(head, n, "", -1)
			textShortcut = true
			if got.Category != long.Category || got.Kind != long.Kind || got.Reason != long.Reason ||
				got.Category != None && (got.MIME != long.MIME || got.Mismatch != long.Mismatch) {
				t.Errorf("%q named %q: %+v, the library's way %+v", o, n, got, long)
			}
		}
	}
}
