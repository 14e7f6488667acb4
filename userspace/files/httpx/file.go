package httpx

import "github.com/edgesensor/edgesensor/userspace/files/transfer"

// out is one file being written. It is opened on its first byte (or
// gap), so empty bodies open nothing.
type out struct {
	f        transfer.File
	opened   bool // Open was called
	declined bool // the sink said no (or gave no file): drop the rest
	gapped   bool // bytes are missing: the file cannot close Whole
	n        int64
}

// write appends b; false once the sink declined the file.
func (o *out) write(p *Parser, m *transfer.Meta, b []byte) bool {
	if o.declined || !o.opened && !o.open(p, m) {
		return false
	}
	o.n += int64(len(b))
	if !o.f.Write(b) {
		o.declined = true
		p.stats.BodiesDeclined++
		return false
	}
	return true
}

// gap records n missing bytes.
func (o *out) gap(p *Parser, m *transfer.Meta, n int64) {
	if o.declined || !o.opened && !o.open(p, m) {
		return
	}
	o.gapped = true
	o.f.Gap(n)
}

// wireGap reports n encoded bytes missing, where the file can take it.
func (o *out) wireGap(n int64) {
	if wg, ok := o.f.(transfer.WireGapper); ok && !o.declined {
		wg.WireGap(n)
	}
}

func (o *out) open(p *Parser, m *transfer.Meta) bool {
	o.opened = true
	if p.opts.Now != nil {
		m.Time = p.opts.Now()
	}
	if o.f = p.sink.Open(m); o.f == nil {
		o.declined = true
		return false
	}
	p.stats.BodiesOpened++
	return true
}

// close ends the file, if one was opened, and resets o.
func (o *out) close(cut transfer.Cut) {
	if o.f != nil {
		if cut == transfer.Whole && o.gapped {
			cut = transfer.CutGap
		}
		o.f.Close(cut)
	}
	*o = out{}
}
