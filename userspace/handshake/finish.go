package handshake

import (
	"time"

	"github.com/segmentio/encoding/json"

	"github.com/edgesensor/edgesensor/userspace/export/ecs"
	"github.com/edgesensor/edgesensor/userspace/handshake/fingerprint"
	"github.com/edgesensor/edgesensor/userspace/handshake/tlswire"
)

// message takes one handshake message of direction d.
func (s *shard) message(f *flow, d int, m tlswire.Message, quicFlow bool) {
	switch {
	case d == 0 && m.Type == tlswire.MsgClientHello && !f.haveCH:
		f.chRaw = append(f.chRaw[:0], m.Body...)
		if err := tlswire.ParseClientHello(f.chRaw, &f.ch); err != nil {
			f.fail(&s.p.Stats, "client_hello: "+err.Error())
			return
		}
		f.haveCH = true
		j := fingerprint.ClientJA3(&f.ch, &s.scratch)
		f.ja3, f.ja3Str = j.Fingerprint(), string(j.String)
		j4 := fingerprint.ClientJA4(&f.ch, quicFlow, &s.scratch)
		f.ja4, f.ja4r = j4.Fingerprint(), string(j4.Raw)
		if hook := s.p.cfg.OnClientHello; hook != nil {
			s.hello = f.helloOf()
			hook(&s.hello)
		}
	case d == 1 && m.Type == tlswire.MsgServerHello:
		var sh tlswire.ServerHello
		if err := tlswire.ParseServerHello(m.Body, &sh); err != nil {
			f.fail(&s.p.Stats, "server_hello: "+err.Error())
			return
		}
		if sh.HelloRetry {
			f.hrr = true
		}
		if sh.Version() == 0x0304 && !quicFlow {
			// Past TLS 1.3's middlebox ChangeCipherSpec, a retry's real
			// ServerHello and the second ClientHello are still plaintext.
			for _, dir := range f.dirs {
				if dir != nil {
					dir.rd.TLS13 = true
				}
			}
		}
		// The last ServerHello is the one that counts (after a retry).
		f.shRaw = append(f.shRaw[:0], m.Body...)
		tlswire.ParseServerHello(f.shRaw, &f.sh)
		f.haveSH = true
		j := fingerprint.ServerJA3S(&f.sh, &s.scratch)
		f.ja3s, f.ja3sS = j.Fingerprint(), string(j.String)
	case d == 1 && m.Type == tlswire.MsgCertificate && f.leaf == nil:
		leaf, n, ok := s.certs.leaf(m.Body, &s.p.Stats)
		if !ok {
			f.fail(&s.p.Stats, "certificate: malformed")
			return
		}
		f.leaf, f.chainLen = leaf, n
	}
}

// Tick implements datapath.Shard: handshakes gone quiet are written. It
// walks the activity list from the least recent and stops at the first
// handshake quiet for less than the shortest wait.
func (s *shard) Tick(now time.Time) {
	defer func() { s.held.Store(int64(s.mem)) }()
	for f := range s.activity.All() {
		idle := now.Sub(f.last)
		if idle < min(s.p.cfg.QUICQuiet, s.p.cfg.Idle) {
			break
		}
		switch {
		case f.quic && f.haveCH && idle >= s.p.cfg.QUICQuiet:
			if f.haveSH {
				s.finish(f, "finished")
			} else {
				s.finish(f, "server_silent")
			}
		case idle >= s.p.cfg.Idle:
			s.finish(f, "timeout")
		}
	}
	s.p.out.Flush()
}

// Close implements datapath.Shard.
func (s *shard) Close() {
	for s.activity.Oldest() != nil {
		s.finish(s.activity.Oldest(), "shutdown")
	}
}

// finish writes the event of a flow and forgets it.
func (s *shard) finish(f *flow, end string) {
	delete(s.flows, f.key)
	s.activity.Remove(f)
	s.mem -= f.mem
	s.recent.add(f.key)
	if f.conn != nil {
		// What the model still holds (holes) is read as far as it goes.
		f.conn.Settle(f.consumers())
		for d, dir := range f.dirs {
			if dir != nil && dir.started {
				f.conn.S[d].Flush(dir)
			}
		}
	}
	if f.verdict && end != "finished" && end != "not_tls" && s.p.cfg.Verdicts != nil {
		s.p.cfg.Verdicts.ForgetHandshake(f.id(), f.key.proto)
	}
	ev := f.event(end, s.p.cfg.CommunityIDSeed, s.p.cfg.Geo)
	defer s.recycle(f)
	if s.p.cfg.Score != nil {
		s.p.cfg.Score(ev)
	}
	// The fields are made once: the capture's path is not among them.
	fields := ev.Fields()
	if s.p.cfg.Capture != nil {
		ev.Edgesensor.Capture = s.p.cfg.Capture(&fields)
	}
	line, err := s.encode(ev)
	if err != nil {
		s.p.Stats.Errors.Add(1)
		return
	}
	s.rec = ecs.Record{Fields: fields, Line: line}
	s.p.out.Write(&s.rec)
	s.p.Stats.Events.Add(1)
}

// encode writes ev as one NDJSON line into the shard's buffer: a
// reflection-free encoder, 5x faster than encoding/json, with EscapeHTML
// and invalid UTF-8 replaced so the bytes are the same as encoding/json's.
// The line is valid until the next call.
func (s *shard) encode(ev *Event) ([]byte, error) {
	line, err := json.Append(s.line[:0], ev, json.EscapeHTML)
	if err != nil {
		return nil, err
	}
	s.line = append(line, '\n')
	return s.line, nil
}
