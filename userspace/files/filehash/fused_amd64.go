//go:build amd64 && !purego

package filehash

import "golang.org/x/sys/cpu"

//go:noescape
func blockFused(m5 *[4]uint32, s1 *[5]uint32, s256 *[8]uint32, p []byte)

func cpuid(leaf, sub uint32) (a, b, c, d uint32)

// haveFused: the fused loop needs the SHA extensions (CPUID 7.0 EBX bit
// 29) and AVX with its state enabled by the OS.
var haveFused = func() bool {
	if !cpu.X86.HasAVX || !cpu.X86.HasSSE41 || !cpu.X86.HasSSSE3 {
		return false
	}
	if max, _, _, _ := cpuid(0, 0); max < 7 {
		return false
	}
	_, b, _, _ := cpuid(7, 0)
	return b&(1<<29) != 0
}()
