package ipfrag

import "math/bits"

// Buffer classes: powers of two from 256 bytes to 128 KiB, enough for
// the largest datagram kept (65535 bytes of data plus its header).
const (
	minClass = 8
	maxClass = 17
)

// pool keeps released data buffers for reuse, up to limit bytes, so that
// a steady flow of datagrams allocates nothing. Its bytes count against
// MaxBytes like those of datagrams in progress (with the spare datagram
// structs, which the Reassembler adds to bytes).
type pool struct {
	free  [maxClass - minClass + 1][][]byte
	bytes int64
	limit int64
}

func class(n int) int {
	return max(bits.Len(uint(n-1)), minClass)
}

// get returns an empty buffer with room for n bytes, nil past the
// largest class.
func (p *pool) get(n int) []byte {
	c := class(n)
	if c > maxClass {
		return nil
	}
	i := c - minClass
	if k := len(p.free[i]); k > 0 {
		b := p.free[i][k-1]
		p.free[i] = p.free[i][:k-1]
		p.bytes -= int64(cap(b))
		return b[:0]
	}
	return make([]byte, 0, 1<<c)
}

// put keeps b for reuse if there is room; otherwise the collector has it.
func (p *pool) put(b []byte) {
	c := class(cap(b))
	if cap(b) == 0 || cap(b) != 1<<c || c > maxClass || p.bytes+int64(cap(b)) > p.limit {
		return
	}
	p.free[c-minClass] = append(p.free[c-minClass], b[:0])
	p.bytes += int64(cap(b))
}

// release lets every kept buffer go.
func (p *pool) release() {
	p.free = [maxClass - minClass + 1][][]byte{}
	p.bytes = 0
}
