/* A freestanding Windows console program: no C runtime, three imports
 * from kernel32 (so the fixture has an import table to hash). */
typedef void *HANDLE;
typedef unsigned long DWORD;
__declspec(dllimport) HANDLE __stdcall GetStdHandle(DWORD);
__declspec(dllimport) int __stdcall WriteFile(HANDLE, const void *, DWORD, DWORD *, void *);
__declspec(dllimport) void __stdcall ExitProcess(unsigned int);

void start(void) {
	DWORD n;
	WriteFile(GetStdHandle((DWORD)-11), "hello\r\n", 7, &n, 0);
	ExitProcess(0);
}
