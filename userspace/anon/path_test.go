package anon

import "testing"

func TestStripUserPath(t *testing.T) {
	tests := []struct{ in, want string }{
		{`C:\Users\alice\Downloads\x.exe`, `C:\Users\<user>\Downloads\x.exe`},
		{`c:\users\Alice.CORP\AppData\Local\Temp\a.tmp`, `c:\users\<user>\AppData\Local\Temp\a.tmp`},
		{`C:\USERS\bob`, `C:\USERS\<user>`},
		{`C:\Users\bob\`, `C:\Users\<user>\`},
		{`C:\Users\Public\Downloads\evil.exe`, `C:\Users\Public\Downloads\evil.exe`},
		{`C:\Users\Default\NTUSER.DAT`, `C:\Users\Default\NTUSER.DAT`},
		{`C:\Documents and Settings\bob\Desktop\a.doc`, `C:\Documents and Settings\<user>\Desktop\a.doc`},
		{`C:\Documents and Settings\All Users\x`, `C:\Documents and Settings\All Users\x`},
		{`\\server\share\Users\bob\file.txt`, `\\server\share\Users\<user>\file.txt`},
		{`\\?\C:\Users\carol\x`, `\\?\C:\Users\<user>\x`},
		{`/home/alice/x`, `/home/<user>/x`},
		{`/home/alice`, `/home/<user>`},
		{`/HOME/alice/.ssh/id_rsa`, `/HOME/<user>/.ssh/id_rsa`},
		{`/export/home/dave/bin/tool`, `/export/home/<user>/bin/tool`},
		{`/Users/alice/Library/x.plist`, `/Users/<user>/Library/x.plist`},
		{`/Users/Shared/x`, `/Users/Shared/x`},
		{`/root/.bashrc`, `/root/.bashrc`},
		{`/home//x`, `/home//x`},
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
