// Command gen writes fused_amd64.s: one loop that computes MD5, SHA-1 and
// SHA-256 over the same 64-byte blocks.
//
// Why fused: MD5 is a serial chain of integer operations (about 5 cycles a
// byte) that leaves most execution ports idle, and SHA-1 and SHA-256 with
// the SHA extensions are chains of vector instructions on other ports. Run
// one after the other, the three cost the sum of their chains; interleaved
// in one instruction stream, the out-of-order core runs them side by side
// and the three cost little more than MD5 alone.
//
// The three streams use disjoint registers, so any interleaving that keeps
// each stream's own order computes the same digests; the generator merges
// them evenly. The SHA streams follow the SHA-extension code of the Go
// standard library (BSD licence); MD5 follows RFC 1321.
package main

import (
	"bufio"
	"flag"
	"fmt"
	"math"
	"os"
	"strings"
)

func main() {
	out := flag.String("out", "fused_amd64.s", "output file")
	flag.Parse()
	f, err := os.Create(*out)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	w := bufio.NewWriter(f)
	write(w)
	if err := w.Flush(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if err := f.Close(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

// Registers.
//
//	MD5:     AX BX CX DX state, R12-R15 saved state, R9 R10 temporaries,
//	         R11 = 0xffffffff
//	SHA-256: X1 X2 state (ABEF, CDGH), X0 message (implicit operand of
//	         SHA256RNDS2), X3-X6 schedule, X7 temporary
//	SHA-1:   X8 ABCD, X9 X10 E, X11-X14 schedule, X15 byte-order mask
//	shared:  SI data, DI end of data
//	stack:   0(SP) 16(SP) SHA-256 state, 32(SP) 48(SP) SHA-1 E and ABCD,
//	         saved at the start of each block.

// stream is one digest's instructions, in order.
type stream []string

func (s *stream) add(f string, a ...any) { *s = append(*s, fmt.Sprintf(f, a...)) }

func md5Stream() []string {
	var s stream
	regs := []string{"AX", "BX", "CX", "DX"}
	shifts := [4][4]int{{7, 12, 17, 22}, {5, 9, 14, 20}, {4, 11, 16, 23}, {6, 10, 15, 21}}
	s.add("MOVL AX, R12")
	s.add("MOVL BX, R13")
	s.add("MOVL CX, R14")
	s.add("MOVL DX, R15")
	for i := 0; i < 64; i++ {
		// (a, b, c, d) rotate right by one register each step.
		a, b, c, d := regs[(64-i)%4], regs[(65-i)%4], regs[(66-i)%4], regs[(67-i)%4]
		k := uint32(math.Floor(math.Abs(math.Sin(float64(i+1))) * (1 << 32)))
		round := i / 16
		var g int
		switch round {
		case 0:
			g = i
		case 1:
			g = (1 + 5*i) % 16
		case 2:
			g = (5 + 3*i) % 16
		case 3:
			g = (7 * i) % 16
		}
		s.add("ADDL $0x%08x, %s", k, a)
		s.add("ADDL %d(SI), %s", 4*g, a)
		switch round {
		case 0: // F = d ^ (b & (c ^ d))
			s.add("MOVL %s, R9", c)
			s.add("XORL %s, R9", d)
			s.add("ANDL %s, R9", b)
			s.add("XORL %s, R9", d)
			s.add("ADDL R9, %s", a)
		case 1: // G = (b & d) | (c & ~d), the two halves disjoint
			s.add("MOVL %s, R9", d)
			s.add("MOVL %s, R10", d)
			s.add("XORL R11, R9")
			s.add("ANDL %s, R10", b)
			s.add("ANDL %s, R9", c)
			s.add("ADDL R10, %s", a)
			s.add("ADDL R9, %s", a)
		case 2: // H = b ^ c ^ d
			s.add("MOVL %s, R9", c)
			s.add("XORL %s, R9", d)
			s.add("XORL %s, R9", b)
			s.add("ADDL R9, %s", a)
		case 3: // I = c ^ (b | ~d)
			s.add("MOVL %s, R9", d)
			s.add("XORL R11, R9")
			s.add("ORL %s, R9", b)
			s.add("XORL %s, R9", c)
			s.add("ADDL R9, %s", a)
		}
		s.add("ROLL $%d, %s", shifts[round][i%4], a)
		s.add("ADDL %s, %s", b, a)
	}
	s.add("ADDL R12, AX")
	s.add("ADDL R13, BX")
	s.add("ADDL R14, CX")
	s.add("ADDL R15, DX")
	return s
}

func sha256Stream() []string {
	var s stream
	k := func(i int) string { return fmt.Sprintf("K256<>+%d(SB)", 32*i) }
	s.add("VMOVDQU X1, 0(SP)")
	s.add("VMOVDQU X2, 16(SP)")
	msg := []string{"X3", "X4", "X5", "X6"}
	// Rounds 0-15 from the block, byte-swapped.
	for i := 0; i < 4; i++ {
		s.add("VMOVDQU %d(SI), X0", 16*i)
		s.add("VPSHUFB flip_mask<>+0(SB), X0, X0")
		s.add("VMOVDQA X0, %s", msg[i])
		s.add("VPADDD %s, X0, X0", k(i))
		s.add("SHA256RNDS2 X0, X1, X2")
		if i == 3 {
			s.add("VMOVDQA X6, X7")
			s.add("PALIGNR $0x04, X5, X7")
			s.add("PADDD X7, X3")
			s.add("SHA256MSG2 X6, X3")
		}
		s.add("PSHUFD $0x0e, X0, X0")
		s.add("SHA256RNDS2 X0, X2, X1")
		if i > 0 {
			s.add("SHA256MSG1 %s, %s", msg[i], msg[i-1])
		}
	}
	// Rounds 16-63: the schedule in X3-X6 turns over.
	for i := 4; i < 16; i++ {
		cur := msg[i%4]
		next := msg[(i+1)%4]
		prev := msg[(i+3)%4]
		s.add("VPADDD %s, %s, X0", k(i), cur)
		s.add("SHA256RNDS2 X0, X1, X2")
		if i < 15 {
			s.add("VMOVDQA %s, X7", cur)
			s.add("PALIGNR $0x04, %s, X7", prev)
			s.add("PADDD X7, %s", next)
			s.add("SHA256MSG2 %s, %s", cur, next)
		}
		s.add("PSHUFD $0x0e, X0, X0")
		s.add("SHA256RNDS2 X0, X2, X1")
		if i < 13 {
			s.add("SHA256MSG1 %s, %s", cur, prev)
		}
	}
	s.add("VPADDD 0(SP), X1, X1")
	s.add("VPADDD 16(SP), X2, X2")
	return s
}

func sha1Stream() []string {
	var s stream
	const abcd = "X8"
	e := []string{"X9", "X10"}
	msg := []string{"X11", "X12", "X13", "X14"}
	s.add("VMOVDQU X9, 32(SP)")
	s.add("VMOVDQU X8, 48(SP)")
	for g := 0; g < 20; g++ {
		cur := msg[g%4]
		eIn, eOut := e[g%2], e[(g+1)%2]
		if g < 4 {
			s.add("VMOVDQU %d(SI), %s", 16*g, cur)
			s.add("PSHUFB X15, %s", cur)
		}
		if g == 0 {
			s.add("PADDD %s, %s", cur, eIn)
		} else {
			s.add("SHA1NEXTE %s, %s", cur, eIn)
		}
		s.add("VMOVDQA %s, %s", abcd, eOut)
		if g >= 3 && g <= 18 {
			s.add("SHA1MSG2 %s, %s", cur, msg[(g+1)%4])
		}
		s.add("SHA1RNDS4 $0x%02x, %s, %s", g/5, eIn, abcd)
		if g >= 1 && g <= 16 {
			s.add("SHA1MSG1 %s, %s", cur, msg[(g+3)%4])
		}
		if g >= 2 && g <= 17 {
			s.add("PXOR %s, %s", cur, msg[(g+2)%4])
		}
	}
	// E of the last group is in e[20%2]; add the saved E and ABCD.
	s.add("VMOVDQU 32(SP), X11")
	s.add("SHA1NEXTE X11, %s", e[0])
	s.add("VPADDD 48(SP), X8, X8")
	return s
}

// merge interleaves the streams evenly, each in its own order.
func merge(streams ...[]string) []string {
	var out []string
	pos := make([]int, len(streams))
	for {
		best, bestFrac := -1, 2.0
		for i, st := range streams {
			if pos[i] == len(st) {
				continue
			}
			frac := float64(pos[i]+1) / float64(len(st))
			if frac < bestFrac {
				best, bestFrac = i, frac
			}
		}
		if best < 0 {
			return out
		}
		out = append(out, streams[best][pos[best]])
		pos[best]++
	}
}

func write(w *bufio.Writer) {
	p := func(f string, a ...any) { fmt.Fprintf(w, f+"\n", a...) }
	p("// Code generated by go run ./internal/gen; DO NOT EDIT.")
	p("")
	p("//go:build amd64 && !purego")
	p("")
	p(`#include "textflag.h"`)
	p("")
	p("// func blockFused(m5 *[4]uint32, s1 *[5]uint32, s256 *[8]uint32, p []byte)")
	p("// Requires: AVX, SHA, SSE4.1, SSSE3.")
	p("TEXT ·blockFused(SB), NOSPLIT, $64-48")
	body := []string{
		"MOVQ p_base+24(FP), SI",
		"MOVQ p_len+32(FP), DI",
		"SHRQ $0x06, DI",
		"SHLQ $0x06, DI",
		"CMPQ DI, $0x00",
		"JEQ done",
		"ADDQ SI, DI",
		"",
		"// MD5 state.",
		"MOVQ m5+0(FP), R8",
		"MOVL (R8), AX",
		"MOVL 4(R8), BX",
		"MOVL 8(R8), CX",
		"MOVL 12(R8), DX",
		"MOVL $0xffffffff, R11",
		"",
		"// SHA-256 state as ABEF, CDGH.",
		"MOVQ s256+16(FP), R8",
		"VMOVDQU (R8), X1",
		"VMOVDQU 16(R8), X2",
		"PSHUFD $0xb1, X1, X1",
		"PSHUFD $0x1b, X2, X2",
		"VMOVDQA X1, X7",
		"PALIGNR $0x08, X2, X1",
		"PBLENDW $0xf0, X7, X2",
		"",
		"// SHA-1 state: ABCD reversed, E in the top lane.",
		"MOVQ s1+8(FP), R8",
		"VPXOR X9, X9, X9",
		"PINSRD $0x03, 16(R8), X9",
		"VMOVDQU (R8), X8",
		"PSHUFD $0x1b, X8, X8",
		"VMOVDQU shuffle_mask<>+0(SB), X15",
	}
	for _, l := range body {
		emit(w, l)
	}
	p("")
	p("loop:")
	for _, l := range merge(md5Stream(), sha256Stream(), sha1Stream()) {
		emit(w, l)
	}
	tail := []string{
		"ADDQ $0x40, SI",
		"CMPQ SI, DI",
		"JNE loop",
		"",
		"MOVQ m5+0(FP), R8",
		"MOVL AX, (R8)",
		"MOVL BX, 4(R8)",
		"MOVL CX, 8(R8)",
		"MOVL DX, 12(R8)",
		"",
		"MOVQ s256+16(FP), R8",
		"PSHUFD $0x1b, X1, X1",
		"PSHUFD $0xb1, X2, X2",
		"VMOVDQA X1, X7",
		"PBLENDW $0xf0, X2, X1",
		"PALIGNR $0x08, X7, X2",
		"VMOVDQU X1, (R8)",
		"VMOVDQU X2, 16(R8)",
		"",
		"MOVQ s1+8(FP), R8",
		"PSHUFD $0x1b, X8, X8",
		"VMOVDQU X8, (R8)",
		"PEXTRD $0x03, X9, 16(R8)",
	}
	for _, l := range tail {
		emit(w, l)
	}
	p("")
	p("done:")
	p("\tRET")
	p("")
	p("// func cpuid(leaf, sub uint32) (a, b, c, d uint32)")
	p("TEXT ·cpuid(SB), NOSPLIT, $0-24")
	for _, l := range []string{
		"MOVL leaf+0(FP), AX",
		"MOVL sub+4(FP), CX",
		"CPUID",
		"MOVL AX, a+8(FP)",
		"MOVL BX, b+12(FP)",
		"MOVL CX, c+16(FP)",
		"MOVL DX, d+20(FP)",
		"RET",
	} {
		emit(w, l)
	}
	p("")
	data(w, "flip_mask", 0x0405060700010203, 0x0c0d0e0f08090a0b)
	data(w, "shuffle_mask", 0x08090a0b0c0d0e0f, 0x0001020304050607)
	var k256 []uint64
	for i := 0; i < 64; i += 2 {
		q := uint64(sha256K[i]) | uint64(sha256K[i+1])<<32
		// Each 16-byte row of four constants is followed by a copy of
		// itself (32-byte stride, as the standard library lays it out).
		k256 = append(k256, q)
		if i%4 == 2 {
			k256 = append(k256, k256[len(k256)-2], k256[len(k256)-1])
		}
	}
	data(w, "K256", k256...)
}

func emit(w *bufio.Writer, l string) {
	if l == "" {
		fmt.Fprintln(w)
		return
	}
	if strings.HasPrefix(l, "//") {
		fmt.Fprintf(w, "\t%s\n", l)
		return
	}
	op, args, _ := strings.Cut(l, " ")
	if args == "" {
		fmt.Fprintf(w, "\t%s\n", op)
		return
	}
	fmt.Fprintf(w, "\t%-11s %s\n", op, args)
}

func data(w *bufio.Writer, name string, q ...uint64) {
	for i, v := range q {
		fmt.Fprintf(w, "DATA %s<>+%d(SB)/8, $0x%016x\n", name, 8*i, v)
	}
	fmt.Fprintf(w, "GLOBL %s<>(SB), RODATA, $%d\n\n", name, 8*len(q))
}

var sha256K = [64]uint32{
	0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
	0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
	0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
	0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
	0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
	0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
	0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
	0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
}
