package pullfeed

import (
	"io"
	"iter"
)

// Driver is the coroutine side of a decoder chain run under iter.Pull:
// the coroutine opens the chain over In and yields its output, a buffer
// at a time, and nil (In's yield) when it needs input. The caller keeps
// the next and stop that Start returns (it counts or checks them), sets
// In before it calls next, and reads Err once next says the coroutine
// ended. The coroutine only runs while the caller waits in next, so
// what it touches is only touched from the caller's goroutine.
type Driver struct {
	In  Input
	Out []byte // the output buffer, made once the chain is open
	Err error  // what ended the coroutine; io.EOF: the stream ended cleanly
}

// Start makes the coroutine; it runs from the first next. open builds
// the decoder chain over its argument (In): it runs on the coroutine, so
// it may read (headers), which suspends it until the input arrives. size
// is Out's.
func (d *Driver) Start(open func(io.Reader) (io.Reader, error), size int) (next func() ([]byte, bool), stop func()) {
	return iter.Pull(func(yield func([]byte) bool) {
		d.In.Yield = yield
		r, err := open(&d.In)
		if err != nil {
			d.Err = err
			return
		}
		d.Out = make([]byte, size)
		for {
			n, err := r.Read(d.Out)
			if n > 0 && !yield(d.Out[:n]) {
				return
			}
			if err != nil {
				d.Err = err
				return
			}
		}
	})
}

// Free drops the buffers, once the coroutine is stopped.
func (d *Driver) Free() { d.In.In, d.Out = nil, nil }
