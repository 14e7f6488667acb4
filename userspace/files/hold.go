package files

import (
	"encoding/hex"

	"github.com/edgesensor/edgesensor/userspace/datapath"
	"github.com/edgesensor/edgesensor/userspace/files/transfer"
	"github.com/edgesensor/edgesensor/userspace/verdict/score"
)

// Holds is enforcement's hold on downloads: the data plane holds an HTTP
// flow's server packets from a gate on, and the pipeline says, for each
// held packet it has read, how far the flow is judged and whether the
// packet completed files whose verdicts must come first. Held is called
// from the shards, Judged from the scorers.
type Holds interface {
	// Held: the data plane held ev (ev.Held()); d is what the pipeline
	// made of it. ev's buffers are reused after the call.
	Held(ev *datapath.Event, d HoldDecision)
	// Judged: the verdict of a file that a held packet completed (one
	// call per file counted in HoldDecision.Files).
	Judged(fl datapath.Flow, v FileVerdict)
	// Unheld: the verdict of any other file (no held packet completed
	// it: monitor mode, an upload or mail, a body not held), from the
	// interface iface.
	Unheld(fl datapath.Flow, v FileVerdict, iface string)
}

// HoldDecision is what the pipeline made of a held packet.
type HoldDecision struct {
	Flow datapath.Flow
	// Files the packet completed: their verdicts (Judged) decide its fate.
	Files int
	// Gate is the first sequence number not yet judged of the direction
	// the flow's files travel (FromClient: the client's, mail sent;
	// else the server's): the data plane holds packets from it on. Open:
	// nothing to judge (a body of no interest whose end cannot be known,
	// or not HTTP any more): hold nothing until the client's next
	// request; Gate is then where the bytes were judged to.
	Gate       uint32
	Open       bool
	FromClient bool
	// Off: nothing more on this connection can be judged (an upgrade, a
	// tunnel, STARTTLS): hold nothing more of it.
	Off bool
}

// FileVerdict is what enforcement needs of a judged file.
type FileVerdict struct {
	Score    score.Result
	SHA256   string // hex; "" when the file is not whole
	Name     string
	Type     string
	Size     int64
	Complete bool
	// Sent: the file travelled from the client (mail sent, an upload).
	Sent bool
	// CloudLookup: the privacy policy lets the cloud see this file's
	// hash (the uplink looks it up), so a hold may wait for its answer.
	CloudLookup bool
}

// SetHolds sets (nil: clears) the hold on downloads.
func (p *Pipeline) SetHolds(h Holds) {
	if h == nil {
		p.holds.Store(nil)
		return
	}
	p.holds.Store(&h)
}

func (p *Pipeline) holder() Holds {
	if h := p.holds.Load(); h != nil {
		return *h
	}
	return nil
}

// heldDone tells the holder what the held event ev made of its flow.
func (s *shard) heldDone(ev *datapath.Event, h Holds) {
	end := ev.Seq + uint32(ev.PayloadLen)
	if ev.TCPFlags&datapath.TCPFin != 0 {
		end++
	}
	d := HoldDecision{Flow: ev.Flow(), Files: s.heldFiles, Gate: end, Open: true, FromClient: ev.FromClient()}
	s.heldFiles = 0
	if f := s.flows[flowKey{ev.Client(), ev.Server(), ev.Zone}]; f != nil && f.ignored {
		d.Off = true
	} else if f != nil && f.parser != nil {
		d.Gate, d.Open = f.judgedTo(d.FromClient)
	}
	h.Held(ev, d)
}

// judgedTo is where the bytes of one direction (the client's:
// fromClient) stop being judged: the end of a body of no interest (kept
// in the kernel), a download's last byte (held until the file's
// verdict), or the next byte when the body's end cannot be known, and
// for mail always (its messages end at a line, not a length). open:
// nothing to hold (a page of unknown length); the gate is then the next
// byte.
func (f *flow) judgedTo(fromClient bool) (gate uint32, open bool) {
	d := &f.dirs[1]
	if fromClient {
		d = &f.dirs[0]
	}
	st := d.stream()
	if !st.Started() {
		return 0, true
	}
	next := st.NextSeq()
	if next-d.skipFrom < d.skipEnd-d.skipFrom {
		// Inside the last range skipped (kept in the kernel, of no
		// interest): judged to its end. Measured from the range's
		// start, so a range long passed never looks ahead again.
		next = d.skipEnd
	}
	bp, ok := f.parser.(transfer.BodyPending)
	if f.app != datapath.AppHTTP || !ok {
		return next, false
	}
	remain, want, inBody := bp.Pending(fromClient)
	switch {
	case !inBody:
		return next, false
	case remain < 0 && !want:
		return next, true
	case remain < 0:
		return next, false
	case want && remain > 0:
		return next + uint32(remain) - 1, false
	default:
		return next + uint32(remain), false
	}
}

// holdsFile: a held packet is closing a file of the direction the data
// plane holds (downloads; mail sent over SMTP): its verdict must pass.
func (f *file) holdsFile() bool {
	s := f.s
	fl := f.flow
	return s.curHeld && fl != nil && fl == s.cur && f.want && !f.oversize && f.meta.Upload == (fl.app == datapath.AppSMTP)
}

// verdictOf is the file's verdict for enforcement.
func (f *file) verdictOf() FileVerdict {
	v := FileVerdict{Score: f.score, Name: f.meta.Name, Type: f.typ.Category.String(), Size: f.size, Complete: f.complete, Sent: f.meta.Upload}
	if f.complete && len(f.sum256) > 0 {
		v.SHA256 = hex.EncodeToString(f.sum256)
		sm := f.s.p.cfg.Samples
		v.CloudLookup = sm != nil && sm.Wanted(f.typ.Category)
	}
	return v
}
