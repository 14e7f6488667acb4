package sensor

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/ringbuf"
	"github.com/rs/zerolog"

	"github.com/edgesensor/edgesensor/bpf"
	"github.com/edgesensor/edgesensor/userspace/config"
	"github.com/edgesensor/edgesensor/userspace/datapath"
)

// Options for a live sensor.
type Options struct {
	Config     *config.Config
	Interfaces []string
	Force      bool
	// Persist requires the pins to outlive the process (`attach`, which
	// leaves the sensor attached without a daemon).
	Persist bool
	Log     zerolog.Logger
}

// Sensor is the data plane attached to interfaces with readers feeding a
// pipeline.
type Sensor struct {
	cfg   *config.Config
	log   zerolog.Logger
	objs  *bpf.Objects
	atts  []*Attachment
	rings []*ringbuf.Reader
	disp  *Dispatcher
	dec   *Decoder
	lock  *os.File
	csum  *checksumModes
	// count tells the flow table's size, for metrics; made at the first
	// ask, since a sensor without metrics never needs it.
	countOnce sync.Once
	count     *bpf.FlowCounter

	wg       sync.WaitGroup // the ticker
	readers  sync.WaitGroup // the ring readers
	errc     chan error
	stopTick chan struct{}
	closed   bool
	// ext is the program loaded as a libxdp dispatcher component (once,
	// then linked into every interface's dispatcher).
	ext *ebpf.Program
}

// extension loads the program as a component of target's slot fn, the
// first time; later dispatchers link the same one.
func (s *Sensor) extension(target *ebpf.Program, fn string) (*ebpf.Program, error) {
	if s.ext == nil {
		p, err := s.objs.LoadExtension(target, fn)
		if err != nil {
			return nil, err
		}
		s.ext = p
	}
	return s.ext, nil
}

// Setup checks privileges and every interface, mounts bpffs, loads (or
// adopts) the pinned maps and attaches the program to every interface. On
// error it leaves things as it found them: it undoes only what it did.
func Setup(o Options) (*Sensor, error) {
	if len(o.Interfaces) == 0 {
		return nil, errors.New("no interface to attach to: pass --iface or set sensor.interfaces")
	}
	if err := CheckPrivileges(); err != nil {
		return nil, err
	}
	pin := o.Config.Sensor.PinPath
	persistent, err := EnsureBPFFS(pin)
	if err != nil {
		return nil, err
	}
	if !persistent {
		if o.Persist {
			return nil, fmt.Errorf("%w: %s is in a private mount namespace (as under `ip netns exec`), "+
				"so the pins would vanish when edgesensor exits and nothing would stay attached; "+
				"mount bpffs in the host's namespace and pass --pin-path on it", ErrPrivateMount, pin)
		}
		o.Log.Warn().Str("pin_path", pin).Msg("bpffs mounted in a private mount namespace: " +
			"a restarted sensor cannot adopt these pins")
	}
	lock, err := LockPinPath(pin)
	if err != nil {
		return nil, err
	}
	s := &Sensor{cfg: o.Config, log: o.Log, lock: lock}
	ao := AttachOptions{
		Mode: o.Config.Sensor.XDPMode, Force: o.Force, PinPath: pin, Log: o.Log,
		Share: o.Config.Sensor.XDPShare, Priority: o.Config.Sensor.XDPPriority, Extension: s.extension,
	}
	// Nothing changes before every interface is known to be usable.
	for _, name := range o.Interfaces {
		if err := Check(name, ao); err != nil {
			lock.Close()
			return nil, err
		}
	}
	before, err := PinnedInterfaces(pin)
	if err != nil {
		lock.Close()
		return nil, err
	}
	objs, err := Load(o.Config, pin)
	if err != nil {
		lock.Close()
		if len(before) == 0 {
			_ = RemovePins(pin)
		}
		return nil, err
	}
	s.objs = objs
	ao.Chain, ao.Chained = objs.Chain, objs.ChainedTable
	if s.csum, err = newChecksumModes(objs, o.Config); err != nil {
		s.rollback(len(before) == 0)
		return nil, err
	}
	for _, name := range o.Interfaces {
		a, err := Attach(objs.Program, name, ao)
		if err != nil {
			s.rollback(len(before) == 0)
			return nil, err
		}
		s.atts = append(s.atts, a)
		slot, err := AssignSlot(objs, a.Ifindex)
		if err != nil {
			s.rollback(len(before) == 0)
			return nil, err
		}
		if slot == 0 {
			o.Log.Warn().Str("iface", a.Iface).Msg("no counter slot left: its counters go to the shared slot 0")
		}
		ev := o.Log.Info().Str("iface", a.Iface).Int("ifindex", a.Ifindex).Str("mode", a.Mode).
			Uint32("prog_id", uint32(a.ProgID)).Uint32("counter_slot", slot)
		if a.Adopted {
			ev = ev.Bool("adopted", true)
		}
		if a.Shared {
			ev = ev.Str("via", "libxdp dispatcher").Strs("beside", a.Others)
		}
		ev.Msg("attached")
		if o.Config.Sensor.XDPMode == config.ModeNative && a.Mode != config.ModeNative && a.Mode != "" {
			o.Log.Warn().Str("iface", a.Iface).Str("mode", a.Mode).Msg("interface runs another XDP mode than configured")
		}
	}
	return s, nil
}

// rollback undoes a failed Setup: links it made are detached, links it
// adopted keep their (now updated) program, and the pins go only if
// there were none before.
func (s *Sensor) rollback(removePins bool) {
	for _, a := range s.atts {
		if !a.Adopted {
			if err := a.detach(); err != nil {
				s.log.Warn().Err(err).Str("iface", a.Iface).Msg("rollback: detaching")
			}
			_ = ReleaseSlot(s.objs, a.Ifindex)
		}
		a.Close()
	}
	s.atts = nil
	if removePins {
		_ = RemovePins(s.cfg.Sensor.PinPath)
	}
	if s.ext != nil {
		s.ext.Close()
	}
	s.objs.Close()
	s.lock.Close()
}

// Attachments lists what is attached.
func (s *Sensor) Attachments() []*Attachment { return s.atts }

// Objects exposes the loaded data plane.
func (s *Sensor) Objects() *bpf.Objects { return s.objs }

// Verdicts returns a writer for stream verdicts.
func (s *Sensor) Verdicts() *VerdictWriter { return NewVerdictWriter(s.objs.StreamVerdicts) }

// HSVerdicts returns a writer for handshake verdicts.
func (s *Sensor) HSVerdicts() *HSVerdictWriter { return NewHSVerdictWriter(s.objs.HSVerdicts) }

// ChecksumMode sets the data plane's checksum policy for an interface:
// strict (full checksums only), or none checked.
func (s *Sensor) ChecksumMode(ifindex uint32, strict bool) {
	if err := s.csum.set(ifindex, strict); err != nil {
		s.log.Warn().Err(err).Uint32("ifindex", ifindex).Msg("checksum mode not set in the data plane")
		return
	}
	mode := "off"
	if strict {
		mode = "strict"
	}
	s.log.Info().Uint32("ifindex", ifindex).Str("checksums", mode).Msg("checksum policy of an interface decided")
}

// Start begins reading both ring buffers into p.
func (s *Sensor) Start(p datapath.Pipeline) error {
	names := map[uint32]string{}
	for _, a := range s.atts {
		names[uint32(a.Ifindex)] = a.Iface
	}
	s.dec = NewDecoder(names, "unknown")
	s.disp = NewDispatcher(p, s.dec, s.cfg.WorkerCount(), s.cfg.Sensor.QueueDepth)
	if s.cfg.Capture.Fragments {
		s.disp.frags = newDefrag(s.cfg, s.objs.Program)
	}
	s.errc = make(chan error, 3)
	for _, m := range []*ebpf.Map{s.objs.Handshakes, s.objs.Streams, s.objs.Fragments} {
		rd, err := ringbuf.NewReader(m)
		if err != nil {
			return fmt.Errorf("opening ring buffer reader: %w", err)
		}
		s.rings = append(s.rings, rd)
	}
	for _, rd := range s.rings {
		s.readers.Add(1)
		go func(rd *ringbuf.Reader) {
			defer s.readers.Done()
			if err := readRing(rd, s.disp); err != nil {
				s.errc <- err
			}
		}(rd)
	}
	s.stopTick = make(chan struct{})
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case now := <-t.C:
				s.dec.RefreshClock() // follow NTP steps
				s.disp.Tick(now)
			case <-s.stopTick:
				return
			}
		}
	}()
	return nil
}

// RingPoll is how long a record may wait in a ring buffer before the
// reader looks: the data plane wakes the reader only once a batch has
// built up (bpf config *_wakeup_bytes), so a quiet ring is read on this
// timer instead.
const RingPoll = 5 * time.Millisecond

// readRing reads records with one reused Record until the ring is flushed
// (shutdown: everything in it has been read) or closed.
func readRing(rd *ringbuf.Reader, d *Dispatcher) error {
	var rec ringbuf.Record
	rd.SetDeadline(time.Now().Add(RingPoll))
	for {
		err := rd.ReadInto(&rec)
		switch {
		case err == nil:
			d.Dispatch(rec.RawSample, nil)
		case errors.Is(err, os.ErrDeadlineExceeded):
			rd.SetDeadline(time.Now().Add(RingPoll))
		case errors.Is(err, ringbuf.ErrFlushed), errors.Is(err, ringbuf.ErrClosed), errors.Is(err, os.ErrClosed):
			return nil
		default:
			return fmt.Errorf("reading ring buffer: %w", err)
		}
	}
}

// Wait blocks until ctx ends or a reader fails.
func (s *Sensor) Wait(ctx context.Context) error {
	select {
	case <-ctx.Done():
		return nil
	case err := <-s.errc:
		return err
	}
}

// FragmentMemory is what IP fragment reassembly holds now.
func (s *Sensor) FragmentMemory() int64 {
	if s.disp == nil {
		return 0
	}
	return s.disp.frags.held()
}

// FragmentStats returns what fragment reassembly did (nil when off).
func (s *Sensor) FragmentStats() map[string]uint64 {
	if s.disp == nil {
		return nil
	}
	return s.disp.FragmentStats()
}

// DispatchStats returns the userspace counters.
func (s *Sensor) DispatchStats() DispatchStats {
	if s.disp == nil {
		return DispatchStats{}
	}
	return s.disp.Stats()
}

// Close stops reading, flushes the pipeline and, with detach, removes the
// program from every interface and deletes the pins.
func (s *Sensor) Close(detach bool) error {
	if s.closed {
		return nil
	}
	s.closed = true
	// Read what is still in the rings, then stop.
	for _, rd := range s.rings {
		rd.Flush()
	}
	s.readers.Wait()
	for _, rd := range s.rings {
		rd.Close()
	}
	if s.stopTick != nil {
		close(s.stopTick)
	}
	s.wg.Wait()
	if s.disp != nil {
		s.disp.Close()
	}
	var errs []error
	for _, a := range s.atts {
		if detach {
			if err := a.detach(); err != nil {
				errs = append(errs, fmt.Errorf("detaching from %s: %w", a.Iface, err))
			} else {
				s.log.Info().Str("iface", a.Iface).Msg("detached")
			}
			_ = ReleaseSlot(s.objs, a.Ifindex)
		}
		a.Close()
	}
	if detach {
		if err := RemovePins(s.cfg.Sensor.PinPath); err != nil {
			errs = append(errs, err)
		}
	}
	if s.count != nil {
		s.count.Close()
	}
	if s.ext != nil {
		s.ext.Close()
	}
	s.objs.Close()
	s.lock.Close()
	return errors.Join(errs...)
}

// Flows is how many flows the kernel's flow table holds: from the
// kernel's element count where it keeps one (Linux 6.6+), in a few
// microseconds whatever the table's size; else by walking the table.
// Not after Close.
func (s *Sensor) Flows() (int, error) {
	s.countOnce.Do(func() {
		s.count = bpf.NewFlowCounter(s.objs.Flows)
		if err := s.count.Err(); err != nil {
			s.log.Info().Err(err).Dur("every", bpf.WalkEvery).Msg("the flow table's element count cannot be read (Linux 6.6+): kernel_flows walks the table")
		}
	})
	return s.count.Count()
}

// RingFill is how full one ring buffer is.
type RingFill struct {
	Name    string
	Pending int // bytes written by the data plane, not yet read
	Size    int
}

// Rings reports the fill of both ring buffers (none before Start).
func (s *Sensor) Rings() []RingFill {
	var out []RingFill
	for i, rd := range s.rings {
		name := [...]string{"handshakes", "streams", "fragments"}[i%3]
		out = append(out, RingFill{Name: name, Pending: rd.AvailableBytes(), Size: rd.BufferSize()})
	}
	return out
}

// SetPorts rewrites the watched-port table of the running program (a
// reloaded config): the change applies to the next packet.
func (s *Sensor) SetPorts(apps map[uint16]datapath.App) error {
	return SetPorts(s.objs.PortApp, apps)
}

// ReadActions reads the data plane's action records until ctx ends,
// stamped and named as the sensor's events are.
func (s *Sensor) ReadActions(ctx context.Context, e *Enforcer, fn func(*Action)) error {
	return e.ReadActions(ctx, s.dec, fn)
}

// NewEnforcer takes over the data plane's enforcement state (the config's
// [enforcement] must not be off: the program is loaded with it compiled
// in only then).
func (s *Sensor) NewEnforcer() (*Enforcer, error) {
	e := s.cfg.Enforce
	return NewEnforcer(s.objs, time.Duration(e.MaxAge), e.MaxBlockedFlows)
}
