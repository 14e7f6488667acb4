#!/bin/sh
# Regenerates the PE/COFF fixtures in ../ with a real toolchain
# (Debian: clang-14, llvm-14, lld-14). The tests only read the outputs;
# they never need these tools. Cross-checked with python3-pefile.
set -eu
cd "$(dirname "$0")"
out=..
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
llvm-rc-14 /C 65001 /FO "$tmp/version.res" version.rc
build() { # machine clang-triple dlltool-machine def
	llvm-dlltool-14 -k -m "$3" -d "$4" -l "$tmp/kernel32-$1.lib"
	clang-14 --target="$2" -O1 -ffreestanding -fno-stack-protector \
		-c hello.c -o "$tmp/hello-$1.obj"
	lld-link-14 /nologo /machine:"$1" /subsystem:console /entry:start /nodefaultlib \
		/timestamp:1767225600 /out:"$out/hello-$1.exe" \
		"$tmp/hello-$1.obj" "$tmp/version.res" "$tmp/kernel32-$1.lib"
}
build x64 x86_64-pc-windows-msvc i386:x86-64 kernel32.def
build x86 i686-pc-windows-msvc i386 kernel32-x86.def
build arm64 aarch64-pc-windows-msvc arm64 kernel32.def
# A real COFF object (amd64) for the COFF rule.
cp "$tmp/hello-x64.obj" "$out/hello-x64.obj"
# A PE whose import table and TLS directory exercise the readers:
# kernel32 by name, an API-set DLL, an ordinal import, a TLS callback.
for d in kernel32 synch custom; do
	llvm-dlltool-14 -m i386:x86-64 -d "imports-$d.def" -l "$tmp/imports-$d.lib"
done
clang-14 --target=x86_64-pc-windows-msvc -O1 -ffreestanding -fno-stack-protector \
	-c imports.c -o "$tmp/imports.obj"
lld-link-14 /nologo /machine:x64 /subsystem:console /entry:start /nodefaultlib \
	/timestamp:1767225600 /out:"$out/imports-x64.exe" "$tmp/imports.obj" \
	"$tmp/imports-kernel32.lib" "$tmp/imports-synch.lib" "$tmp/imports-custom.lib"
