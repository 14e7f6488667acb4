package anon

import "testing"

func TestStripUserPath(t *testing.T) {
	tests := []struct{ in, want string }{
		{`C:\Users\alice\Downloads\x.exe`, `C:\Users\<user>\Downloads\x.exe`},
		{`c:\users\Alice.CORP\AppData\Local\Temp\a.tmp`, `c:\users\<user>\AppData\Local\Temp\a.tmp`},
		{`C:\USERS\bob`, `C:\USERS\<user>`},
		{`C:\Users\bob\`, `C:\Users\<user>\`},
		{`C:\\Users\\bob\\x`, `C:\\Users\\<user>\\x`},
		{`C:\Users\Public\Downloads\evil.exe`, `C:\Users\Public\Downloads\evil.exe`},
		{`C:\Users\Default\NTUSER.DAT`, `C:\Users\Default\NTUSER.DAT`},
		{`C:\Documents and Settings\bob\Desktop\a.doc`, `C:\Documents and Settings\<user>\Desktop\a.doc`},
		{`C:\Documents and Settings\All Users\x`, `C:\Documents and Settings\All Users\x`},
		{`\\server\share\Users\bob\file.txt`, `\\server\share\Users\<user>\file.txt`},
		{`\\server\profiles$\bob\x`, `\\server\profiles$\<user>\x`},
		{`\\?\C:\Users\carol\x`, `\\?\C:\Users\<user>\x`},
		{`/home/alice/x`, `/home/<user>/x`},
		{`/home/alice`, `/home/<user>`},
		{`/HOME/alice/.ssh/id_rsa`, `/HOME/<user>/.ssh/id_rsa`},
		{`/export/home/dave/bin/tool`, `/export/home/<user>/bin/tool`},
		{`/Users/alice/Library/x.plist`, `/Users/<user>/Library/x.plist`},
		{`/Users/Shared/x`, `/Users/Shared/x`},
		{`/root/.bashrc`, `/root/.bashrc`},
		{`/home//x`, `/home//<user>`},
		{`/home/`, `/home/`},
		{`/home`, `/home`},
		{`home/alice/x`, `home/<user>/x`},
		{`/homes/alice/x`, `/homes/alice/x`},
		{`/tmp/x.sh`, `/tmp/x.sh`},
		{`x.exe`, `x.exe`},
		{`Users`, `Users`},
		{``, ``},
		{`/home/<user>/x`, `/home/<user>/x`},
		{`/home/home/alice`, `/home/<user>/<user>`},
		{`C:/Users/mixed\sep\x`, `C:/Users/<user>\sep\x`},
		{`/mnt/c/Users/erin/x`, `/mnt/c/Users/<user>/x`},
	}
	for _, tt := range tests {
		if got := StripUserPath(tt.in); got != tt.want {
			t.Errorf("StripUserPath(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestFileName(t *testing.T) {
	e := testEvent("192.0.2.24")
	tests := []struct{ in, want string }{
		{`x.exe`, `x.exe`},
		{`C:\Users\alice\Downloads\x.exe`, `x.exe`},
		{`C:%5CUsers%5Calice%5Cx.exe`, `x.exe`},
		{`C:%255CUsers%255Calice%255Cx.exe`, `x.exe`},
		{`\\srv\Users\bob\report.pdf`, `report.pdf`},
		{`invoice for alice@example.com.pdf`, `invoice for <email>`},
		{`backup-192.0.2.24.zip`, `backup-<client>.zip`},
		{`backup-192.0.2.25.zip`, `backup-192.0.2.25.zip`},
		{` spaced.exe `, `spaced.exe`},
		{`/home/alice/`, ``},
		{`..`, ``},
	}
	for _, tt := range tests {
		if got := FileName(tt.in, e); got != tt.want {
			t.Errorf("FileName(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
