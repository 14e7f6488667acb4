package httpx

// request is what a response needs from its request.
type request struct {
	method, target, host, ua string
	head, connect            bool
	// upgrade: the request asked for a protocol switch (Upgrade field).
	upgrade bool
	// ask is what its Range field asked for: 0 no Range (a 206 answering
	// it is the file the client saves), first+1 bytes from first on,
	// askAny a range not pinned to one first byte (or a head that went
	// past its bounds, where the field may have been lost).
	ask int64
	// tunnel is the CONNECT target of the proxy tunnel the request was
	// sent in, "" outside one (Meta.Tunnel).
	tunnel string
	// lost stands for a request whose head was lost to a gap: its
	// response pairs with it, not with the next request.
	lost bool
}

// strBytes is what r's strings hold.
func (r *request) strBytes() int {
	return len(r.method) + len(r.target) + len(r.host) + len(r.ua) + len(r.tunnel)
}

// fifo holds the requests awaiting responses, oldest first, at most max.
type fifo struct {
	q    []request // ring
	off  int
	n    int
	max  int
	over int // requests past max, after the queued ones: known only by count
	// strs is what the queued requests' strings hold (Footprint).
	strs int
}

func (f *fifo) len() int { return f.n + f.over }

func (f *fifo) push(r request) bool {
	if f.n == f.max || f.over > 0 {
		f.over++
		return false
	}
	if f.n == len(f.q) {
		// Grow: the ring is allocated as pipelining shows up, up to max.
		size := max(4, 2*len(f.q))
		size = min(size, f.max)
		q := make([]request, size)
		for i := 0; i < f.n; i++ {
			q[i] = f.q[(f.off+i)%len(f.q)]
		}
		f.q, f.off = q, 0
	}
	f.q[(f.off+f.n)%len(f.q)] = r
	f.n++
	f.strs += r.strBytes()
	return true
}

// front returns the oldest request, nil when none is known.
func (f *fifo) front() *request {
	if f.n == 0 {
		return nil
	}
	return &f.q[f.off]
}

// pop removes the oldest request; ok is false when there was none known.
func (f *fifo) pop() (r request, ok bool) {
	if f.n == 0 {
		if f.over > 0 {
			f.over--
		}
		return request{}, false
	}
	r = f.q[f.off]
	f.strs -= r.strBytes()
	f.q[f.off] = request{}
	f.off = (f.off + 1) % len(f.q)
	f.n--
	return r, true
}

func (f *fifo) clear() {
	for f.n > 0 {
		f.pop()
	}
	f.over = 0
}
