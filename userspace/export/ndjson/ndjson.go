// Package ndjson writes events: one JSON object per line to one writer
// shared by every analysis worker, each line then handed with its typed
// fields to the other outputs (the tap).
package ndjson

import (
	"bufio"
	"fmt"
	"io"
	"sync"
	"sync/atomic"

	"github.com/edgesensor/edgesensor/userspace/export/ecs"
)

// NDJSON serialises lines from many goroutines onto one writer. The first
// write error stops all further writing and closes Failed.
type NDJSON struct {
	mu     sync.Mutex
	w      *bufio.Writer
	err    error
	failed chan struct{}
	lines  uint64
	tap    atomic.Pointer[func(*ecs.Record)]
}

// NewNDJSON writes to w. Call Flush when done.
func NewNDJSON(w io.Writer) *NDJSON {
	return &NDJSON{w: bufio.NewWriterSize(w, 64<<10), failed: make(chan struct{})}
}

// Write writes one event's line (it must end with a newline), then hands
// the record to the tap.
func (o *NDJSON) Write(rec *ecs.Record) {
	o.mu.Lock()
	if o.err == nil {
		_, err := o.w.Write(rec.Line)
		o.fail(err)
		o.lines++
	}
	o.mu.Unlock()
	if t := o.tap.Load(); t != nil {
		(*t)(rec)
	}
}

// SetTap has f see every record after its line is written (nil: none).
// f runs on the analysis goroutines: it must not block nor keep the
// record's line. It can be replaced while events are written (a
// reloaded config).
func (o *NDJSON) SetTap(f func(rec *ecs.Record)) {
	if f == nil {
		o.tap.Store(nil)
		return
	}
	o.tap.Store(&f)
}

// Flush writes out what is buffered and returns the first write error.
func (o *NDJSON) Flush() error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.err == nil {
		o.fail(o.w.Flush())
	}
	return o.err
}

// Lines returns how many lines were written.
func (o *NDJSON) Lines() uint64 {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.lines
}

// Failed is closed when writing fails (the reader of our output went away,
// the disk is full): the caller should stop rather than analyse into the
// void.
func (o *NDJSON) Failed() <-chan struct{} { return o.failed }

// fail records the first error. Call with mu held.
func (o *NDJSON) fail(err error) {
	if err != nil && o.err == nil {
		o.err = fmt.Errorf("writing events: %w", err)
		close(o.failed)
	}
}
