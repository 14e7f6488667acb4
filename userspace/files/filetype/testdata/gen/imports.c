/* A harmless program whose import table exercises the readers: kernel32
   functions by name, an API-set DLL (api-ms-win-core-synch-l1-2-0.dll), an
   ordinal import and a TLS callback. It is never run. */
typedef void *HANDLE;
__declspec(dllimport) void *__stdcall VirtualAllocEx(HANDLE, void *, unsigned long long, unsigned long, unsigned long);
__declspec(dllimport) int __stdcall WriteProcessMemory(HANDLE, void *, const void *, unsigned long long, unsigned long long *);
__declspec(dllimport) HANDLE __stdcall CreateRemoteThread(HANDLE, void *, unsigned long long, void *, void *, unsigned long, unsigned long *);
__declspec(dllimport) int __stdcall IsDebuggerPresent(void);
__declspec(dllimport) void __stdcall ExitProcess(unsigned int);
__declspec(dllimport) int __stdcall WaitOnAddress(volatile void *, void *, unsigned long long, unsigned long);
__declspec(dllimport) int __stdcall CustomOrdinal(void);

static void __stdcall on_tls(void *h, unsigned long reason, void *r) { (void)h; (void)reason; (void)r; }
/* A TLS directory with one callback: code that runs before the entry point. */
typedef struct {
	unsigned long long start, end, index, callbacks;
	unsigned long zero_fill, characteristics;
} tls_directory;
static unsigned long tls_index;
static void(__stdcall *tls_callbacks[2])(void *, unsigned long, void *) = {on_tls, 0};
const tls_directory _tls_used = {0, 0, (unsigned long long)&tls_index, (unsigned long long)tls_callbacks, 0, 0};

void start(void) {
	if (IsDebuggerPresent())
		ExitProcess(1);
	void *p = VirtualAllocEx(0, 0, 16, 0x3000, 4);
	WriteProcessMemory(0, p, "x", 1, 0);
	CreateRemoteThread(0, 0, 0, p, 0, 0, 0);
	WaitOnAddress(p, p, 1, 0);
	ExitProcess(CustomOrdinal());
}
