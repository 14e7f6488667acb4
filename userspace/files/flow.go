package files

import (
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/edgesensor/edgesensor/internal/lru"
	"github.com/edgesensor/edgesensor/userspace/datapath"
	"github.com/edgesensor/edgesensor/userspace/export/ecs"
	"github.com/edgesensor/edgesensor/userspace/files/httpx"
	"github.com/edgesensor/edgesensor/userspace/files/imap"
	"github.com/edgesensor/edgesensor/userspace/files/mime"
	"github.com/edgesensor/edgesensor/userspace/files/smtp"
	"github.com/edgesensor/edgesensor/userspace/files/transfer"
	"github.com/edgesensor/edgesensor/userspace/packet/reassembly"
)

// flowKey is a connection by its client and server, in its zone (the
// tunnel it travels in, datapath.Event.Zone).
type flowKey struct {
	client, server netip.AddrPort
	zone           uint32
}

// shardStats are the stages' own counters: plain integers, written by the
// shard's goroutine only.
type shardStats struct {
	Reassembly reassembly.Stats
	TCP        reassembly.ConnStats
	HTTP       httpx.Stats
	SMTP       smtp.Stats
	IMAP       imap.Stats
	MIME       mime.Stats
}

type shard struct {
	p     *Pipeline
	id    int
	held  atomic.Int64 // budget.Used() as of the last Tick, for other goroutines
	flows map[flowKey]*flow
	max   int
	// The activity lists, least recently active first, for eviction and
	// expiry in O(1) a flow: flows that have carried data, and flows that
	// have not (yet): a flood of spoofed SYNs only ever evicts the latter.
	active, embryonic lru.List[flow, *flow]

	reasmCfg reassembly.Config
	budget   *reassembly.Budget
	peak     int64 // the budget's peak, as last added to Stats.MemoryPeak
	mimeMem  int64 // what the MIME extractor held when last counted
	stats    shardStats
	sink     *sink
	mime     *mime.Extractor

	// pending counts this shard's files still with the scorers.
	pending sync.WaitGroup

	cur *flow // the flow whose bytes are being parsed
	// curHeld: the event being handled was held by the data plane;
	// heldFiles counts the downloads it closed (HoldDecision.Files).
	curHeld   bool
	heldFiles int
	now       time.Time // capture time of the event being handled
	// lifetimeScan is when flows were last checked against
	// files.flow_lifetime (a scan of all, so not on every tick).
	lifetimeScan time.Time
	closed       bool // Close was called (Pipeline.lastShardClosed)
}

// dir is one direction of a flow as the reassembler's consumer.
type dir struct {
	f          *flow
	fromClient bool
	iface      string
	ended      bool // FIN or RST seen and delivered
	// skipFrom is the wire sequence number where the range the parser
	// asked to skip begins, once it asked.
	skipFrom uint32
	skipLen  int64
	// skipEnd is where the range that began at skipFrom ends: bytes
	// between them are of no interest (held downloads' gate).
	skipEnd uint32
}

// flow is one watched TCP connection.
type flow struct {
	key       flowKey
	app       datapath.App
	parser    transfer.Parser // made at the flow's first byte (parse)
	sh        *shard
	conn      reassembly.Conn // the receiver model and both streams
	dirs      [2]dir          // 0: client -> server, 1: server -> client
	activity  lru.Links[flow] // on the shard's active or embryonic list (by hasData) while it lives
	last      time.Time
	first     time.Time
	vlan      [2]uint16
	wire      int64 // payload bytes the data plane emitted for it
	captureTo int64 // the byte limit of the CAPTURE verdict written, 0 for none
	ignored   bool
	sawSYN    bool   // the client's SYN was seen: the data plane counts from it
	isn       uint32 // the client's initial sequence number
	verdict   bool   // a verdict was written for the flow: forget it at the end
	// open are the flow's files not closed yet; held, its whole files
	// kept back a little after their last byte (see hold): a copy of
	// bytes already delivered with other content makes them conflicts.
	open, held []*file
	conflict   bool // such a copy came: what the flow carries is in doubt
	hasData    bool // it carried data: on the active list
	tunnel     *ecs.Tunnel
	parserMem  int64 // what the flow and its parser held when last counted (budget)
}

// tunnelOf describes the encapsulation ev travelled in, oriented from
// client to server (nil for none).
func tunnelOf(ev *datapath.Event) *ecs.Tunnel {
	if ev.L3Off == 14 || ev.L3Off == 0 {
		return nil // plain Ethernet
	}
	t := ecs.TunnelOf(ev.Frame)
	if t != nil && t.Outer != nil && !ev.FromClient() {
		t.Outer.Source, t.Outer.Destination = t.Outer.Destination, t.Outer.Source
	}
	return t
}

// id names the flow for the data plane.
func (f *flow) id() datapath.Flow {
	return datapath.Flow{Client: f.key.client, Server: f.key.server, Zone: f.key.zone}
}

// parse is f's parser, made when the flow first has bytes (or a hole) for
// it: a flood of connections that never send any costs no parser.
func (f *flow) parse() transfer.Parser {
	if f.parser == nil {
		f.parser = f.sh.parserFor(f.app)
	}
	return f.parser
}

func (d *dir) stream() *reassembly.Stream {
	if d.fromClient {
		return &d.f.conn.S[0]
	}
	return &d.f.conn.S[1]
}

func (d *dir) Data(p []byte) int64 {
	skip := d.f.parse().Data(d.fromClient, p)
	if skip > 0 {
		// The reassembler has moved past p already.
		d.skipFrom = d.stream().NextSeq()
		d.skipLen = skip
		d.skipEnd = d.skipFrom + uint32(skip)
		// The data plane keeps the acknowledgements of a skipped body:
		// the window the receiver advertised is no longer known.
		d.f.conn.ForgetWindow(d.index())
	}
	return skip
}

func (d *dir) Gap(n int64) {
	d.f.conn.ForgetWindow(d.index())
	d.f.parse().Gap(d.fromClient, n)
}

func (d *dir) index() int {
	if d.fromClient {
		return 0
	}
	return 1
}

// Conflict implements reassembly.Conflicter: bytes already delivered came
// again with other content. The host may have kept either copy, so no
// file of the flow open now, or just closed, can be called whole.
func (d *dir) Conflict(int64) {
	f := d.f
	f.conflict = true
	for _, x := range f.open {
		x.conflicted()
	}
	for _, x := range f.held {
		x.conflicted()
	}
}

func (d *dir) consumers() [2]reassembly.Consumer {
	return [2]reassembly.Consumer{&d.f.dirs[0], &d.f.dirs[1]}
}

// segOf reads what the receiver model needs of a TCP event.
func (s *shard) segOf(ev *datapath.Event) reassembly.Seg {
	win, urg, ws, ok := ev.TCPHeader()
	return reassembly.Seg{Seq: ev.Seq, Ack: ev.Ack, Flags: ev.TCPFlags, Window: win, NoWindow: !ok, Urgent: urg,
		WScale: ws, Payload: ev.Payload, Bad: s.p.cfg.Checksums.Bad(ev), Time: ev.UnixNano()}
}

// Handle implements datapath.Shard.
func (s *shard) Handle(ev *datapath.Event) {
	if ev.Proto != datapath.ProtoTCP || ev.Class != datapath.ClassStream {
		return
	}
	s.now = ev.Time
	if ev.Held() {
		if h := s.p.holder(); h != nil {
			s.curHeld = true
			defer func() {
				s.curHeld = false
				s.heldDone(ev, h)
			}()
		}
	}
	key := flowKey{ev.Client(), ev.Server(), ev.Zone}
	f := s.flows[key]
	flags := ev.TCPFlags
	syn := flags&datapath.TCPSyn != 0
	seg := s.segOf(ev)
	if f == nil {
		app := s.p.app(key.server.Port())
		// A lone FIN, RST or ACK (a late retransmission after the flow
		// ended) starts nothing; nor does a packet the host drops.
		if app == datapath.AppNone || len(ev.Payload) == 0 && !syn || seg.Bad {
			if seg.Bad {
				s.stats.TCP.BadChecksum++
			}
			return
		}
		f = s.newFlow(key, app, ev)
	}
	s.touch(f, ev.Time)
	f.wire += int64(ev.PayloadLen)
	d := &f.dirs[1]
	if ev.FromClient() {
		d = &f.dirs[0]
	}
	if ev.Flags&datapath.FlagLost != 0 {
		// Events of the flow were lost: window updates among them.
		f.conn.ForgetWindow(0)
		f.conn.ForgetWindow(1)
	}
	var res reassembly.Result
	if f.ignored {
		if res = s.ignoredSegment(f, d, ev, &seg); res != reassembly.NewConnection {
			return
		}
	} else {
		if d.iface == "" {
			d.iface = ev.Interface
		}
		s.cur = f
		res = f.conn.Segment(ev.FromClient(), &seg, d.consumers())
	}
	if res == reassembly.NewConnection {
		f, d = s.reopened(f, key, ev, &seg)
		res = f.conn.Segment(ev.FromClient(), &seg, d.consumers())
	}
	if res == reassembly.Dropped {
		s.cur = nil
		return
	}
	if syn && ev.FromClient() && flags&datapath.TCPAck == 0 {
		f.noteSYN(&seg)
	}
	if len(ev.Payload) > 0 && !f.established() {
		s.establish(f)
	}
	other := &f.dirs[0]
	if d == other {
		other = &f.dirs[1]
	}
	s.afterParse(f, d)
	s.afterParse(f, other)
	if res == reassembly.Reset {
		s.end(f)
		s.cur = nil
		return
	}
	for _, x := range [2]*dir{d, other} {
		if !f.ignored && x.stream().Finished() && !x.ended {
			x.ended = true
			if f.parser != nil {
				f.parser.End(x.fromClient)
			}
		}
	}
	if f.dirs[0].ended && f.dirs[1].ended {
		s.end(f)
	} else {
		s.release(f, d)
		s.accountParser(f)
	}
	s.cur = nil
}

func (f *flow) noteSYN(g *reassembly.Seg) { f.sawSYN, f.isn = true, g.Seq }

// ignoredSegment follows an ignored flow to its end: only SYN, FIN and
// RST matter, checked by the receiver model as for any flow (without the
// data, which nobody reads). A NewConnection result is the caller's.
func (s *shard) ignoredSegment(f *flow, d *dir, ev *datapath.Event, g *reassembly.Seg) reassembly.Result {
	if g.Bad {
		s.stats.TCP.BadChecksum++
		return reassembly.Dropped
	}
	if ev.TCPFlags&(datapath.TCPSyn|datapath.TCPFin|datapath.TCPRst) == 0 {
		return reassembly.Accepted
	}
	ctl := *g
	ctl.Payload = nil
	res := f.conn.Segment(ev.FromClient(), &ctl, [2]reassembly.Consumer{nil, nil})
	if res == reassembly.NewConnection {
		return res
	}
	if ev.TCPFlags&datapath.TCPFin != 0 {
		d.ended = true
	}
	if res == reassembly.Reset || f.dirs[0].ended && f.dirs[1].ended {
		s.end(f)
	}
	return res
}

// reopened ends f, whose tuple a new connection takes over from this
// event on, and starts the new one with the SYN the event confirms (when
// the event is a SYN-ACK). The data plane forgets its verdict on that
// SYN-ACK too.
func (s *shard) reopened(f *flow, key flowKey, ev *datapath.Event, g *reassembly.Seg) (*flow, *dir) {
	var pend *reassembly.Seg
	if p := f.conn.Pending(); p != nil {
		c := *p
		c.Payload = append([]byte(nil), p.Payload...)
		pend = &c
	}
	f.verdict = false
	s.end(f)
	f = s.newFlow(key, s.p.app(key.server.Port()), ev)
	s.touch(f, ev.Time)
	f.wire += int64(ev.PayloadLen)
	d := &f.dirs[1]
	if ev.FromClient() {
		d = &f.dirs[0]
	}
	d.iface = ev.Interface
	s.cur = f
	if pend != nil {
		f.noteSYN(pend)
		f.conn.Segment(true, pend, d.consumers())
	}
	return f, d
}

// established: the flow has carried data (it is no half-open connection).
func (f *flow) established() bool { return f.hasData }

// establish moves a flow that carried data to the active list.
func (s *shard) establish(f *flow) {
	s.embryonic.Remove(f)
	f.hasData = true
	s.active.Push(f)
}

// afterParse turns what the parser learnt into data-plane verdicts.
func (s *shard) afterParse(f *flow, d *dir) {
	v := s.p.cfg.Verdicts
	if f.ignored {
		return
	}
	if f.parser != nil && f.parser.Done() {
		f.ignored = true
		s.p.Stats.FlowsIgnored.Add(1)
		if v != nil {
			s.verdict(f, "ignore", v.Ignore(f.id()))
		}
		return
	}
	if d.skipLen > 0 {
		if d.skipLen >= minKernelSkip && d.skipLen < 1<<31 && v != nil {
			s.verdict(f, "skip", v.Skip(f.id(), !d.fromClient, d.skipFrom, uint32(d.skipLen), uint64(f.captureTo)))
		}
		d.skipLen = 0
	}
}

// wantCapture is called when a candidate opens: past the flow's byte
// budget the data plane would stop emitting, so raise it to cover the
// file. need is the wire bytes the file may still take.
func (s *shard) wantCapture(need int64) {
	f := s.cur
	v := s.p.cfg.Verdicts
	if f == nil || v == nil {
		return
	}
	limit := f.wire + need + 1<<20
	if !f.sawSYN {
		// Picked up mid-way: the data plane may have counted up to a
		// whole budget for the flow already.
		limit += s.p.cfg.StreamBudget
	}
	if limit <= s.p.cfg.StreamBudget || limit <= f.captureTo {
		return
	}
	f.captureTo = limit
	s.verdict(f, "capture", v.Capture(f.id(), uint64(limit)))
}

func (s *shard) verdict(f *flow, kind string, err error) {
	f.verdict = true
	if err != nil {
		s.p.Stats.VerdictErrors.Add(1)
		return
	}
	switch kind {
	case "skip":
		s.p.Stats.VerdictSkip.Add(1)
	case "capture":
		s.p.Stats.VerdictCapture.Add(1)
	case "ignore":
		s.p.Stats.VerdictIgnore.Add(1)
	}
}
