package reassembly

import (
	"fmt"
	"strings"
	"testing"
)

// sink records what a Stream delivers and checks it is contiguous: it
// tracks the offset of every Data and Gap call itself.
type sink struct {
	t      testing.TB
	s      *Stream // checked against pos after each call, if set
	pos    int64   // offset of the next byte: delivered + gaps + skips
	out    strings.Builder
	data   []byte
	spans  []span
	skipAt func(off int64, p []byte) int64 // the consumer's skip, if any
}

type span struct {
	off, n int64
	gap    bool
}

func (k *sink) Data(p []byte) int64 {
	if len(p) == 0 {
		k.t.Errorf("empty Data at %d", k.pos)
	}
	if k.s != nil && k.s.Delivered() != k.pos+int64(len(p))+k.s.Urgents() {
		k.t.Errorf("Data at %d+%d (%d urgent bytes out): stream delivery point %d", k.pos, len(p), k.s.Urgents(), k.s.Delivered())
	}
	k.out.Write(p)
	k.data = append(k.data, p...)
	k.spans = append(k.spans, span{k.pos, int64(len(p)), false})
	k.pos += int64(len(p))
	var skip int64
	if k.skipAt != nil {
		skip = k.skipAt(k.pos-int64(len(p)), p)
	}
	if skip > 0 {
		fmt.Fprintf(&k.out, "{%d}", skip)
		k.pos += skip
	}
	return skip
}

func (k *sink) Gap(n int64) {
	if n <= 0 {
		k.t.Errorf("Gap(%d) at %d", n, k.pos)
	}
	fmt.Fprintf(&k.out, "[%d]", n)
	k.spans = append(k.spans, span{k.pos, n, true})
	k.pos += n
}

func (k *sink) String() string { return k.out.String() }

// gaps is the total of the gaps seen.
func (k *sink) gaps() (n int64) {
	for _, s := range k.spans {
		if s.gap {
			n += s.n
		}
	}
	return n
}
