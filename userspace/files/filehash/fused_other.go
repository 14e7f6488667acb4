//go:build !amd64 || purego

package filehash

const haveFused = false

func blockFused(m5 *[4]uint32, s1 *[5]uint32, s256 *[8]uint32, p []byte) {
	panic("filehash: no fused block function on this platform")
}
