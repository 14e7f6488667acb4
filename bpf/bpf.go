// Package bpf holds the XDP data plane of edgesensor: the C sources, the
// objects bpf2go compiled from them, and a small typed API over the
// generated (unexported) names. It knows nothing of interfaces or pinning:
// package sensor does that.
package bpf

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/btf"
)

// Types shared with the kernel, generated from types.h.
type (
	// Event is the fixed header of every ring-buffer record.
	Event = sensorEvent
	// FlowKey is the canonical (direction-free) key of a flow.
	FlowKey = sensorFlowKey
	// Flow is the kernel-owned state of a tracked flow.
	Flow = sensorFlow
	// StreamVerdict is userspace's instruction for a stream flow.
	StreamVerdict = sensorStreamVerdict
	FileHold      = sensorFileHold
	// HSVerdict is userspace's instruction for a handshake.
	HSVerdict = sensorHsVerdict
	// FragKey and FragState are the fragment decisions of the data plane.
	FragKey   = sensorFragKey
	FragState = sensorFragState
	// CounterSet is one interface slot's counters on one CPU.
	CounterSet = sensorCounterSet
	// Config is the program's load-time configuration.
	Config = sensorConfig
	// TLSSlot is one slot of the TLS-activity filter.
	TLSSlot = sensorTlsSlot
	// Counter indexes CounterSet.V.
	Counter = sensorCounter
	// EnfEntry is the value of a blocklist table; EnfLPM4 and EnfLPM6 key
	// the prefix tables.
	EnfEntry = sensorEnfEntry
	EnfLPM4  = sensorEnfLpm4
	EnfLPM6  = sensorEnfLpm6
	// FlowBlock is a flow userspace blocked.
	FlowBlock = sensorFlowBlock
	// EnfListStats are one list's counters on one CPU.
	EnfListStats = sensorEnfListStats
	// EnfEvent is a record of the actions ring.
	EnfEvent = sensorEnfEvent
)

// Enforcement (enforce.h).
const (
	EnfMaxLists        = 64
	EnfPrefilterBits   = 24
	EnfPrefilterWords  = 1 << (EnfPrefilterBits - 6)
	FBlockBits         = 16
	EnfModeOff         = uint32(sensorEnfModeENF_OFF)
	EnfModeMonitor     = uint32(sensorEnfModeENF_MONITOR)
	EnfModeBlock       = uint32(sensorEnfModeENF_BLOCK)
	EnfWhatAddr        = uint8(sensorEnfWhatENF_ADDR)
	EnfWhatFlow        = uint8(sensorEnfWhatENF_FLOW)
	EnfSideSrc         = uint8(sensorEnfSideENF_SIDE_SRC)
	EnfSideDst         = uint8(sensorEnfSideENF_SIDE_DST)
	enfActionsRingSize = 256 << 10
)

// Limits compiled into the program (types.h).
const (
	MaxSnap     = 9216
	MaxIfSlots  = 64
	MaxIfIndex  = 16384
	ProgramName = "edgesensor_xdp"
	// ReinjectMagic marks, as XDP metadata, a frame userspace re-injects.
	ReinjectMagic = 0xed5e0f1a
	// ResendMagic marks a held frame userspace sends through the
	// program again: not counted as a packet twice.
	ResendMagic = 0xed5e0f1b
	// ReinjectHoldMagic marks a datagram userspace reassembled from
	// fragments the program held: judged, and held, like a packet.
	ReinjectHoldMagic = 0xed5e0f1c
)

// Event classes (enum ev_class).
const (
	ClassTLS    = uint8(sensorEvClassEV_CLASS_TLS)
	ClassQUIC   = uint8(sensorEvClassEV_CLASS_QUIC)
	ClassStream = uint8(sensorEvClassEV_CLASS_STREAM)
	ClassFrag   = uint8(sensorEvClassEV_CLASS_FRAG)
)

// Event flags (enum ev_flag).
const (
	FlagFromClient = uint8(sensorEvFlagEV_F_FROM_CLIENT)
	FlagLost       = uint8(sensorEvFlagEV_F_LOST)
	FlagSnapCut    = uint8(sensorEvFlagEV_F_SNAP_CUT)
	FlagFlowNew    = uint8(sensorEvFlagEV_F_FLOW_NEW)
	FlagBudget     = uint8(sensorEvFlagEV_F_BUDGET)
	FlagHSDone     = uint8(sensorEvFlagEV_F_HS_DONE)
	FlagTruncated  = uint8(sensorEvFlagEV_F_TRUNCATED)
	FlagReinjected = uint8(sensorEvFlagEV_F_REINJECTED)
)

// Checksum states of Event.Csum (enum csum_state).
const (
	CsumUnchecked = uint8(sensorCsumStateCSUM_UNCHECKED)
	CsumOK        = uint8(sensorCsumStateCSUM_OK)
	CsumPartial   = uint8(sensorCsumStateCSUM_PARTIAL)
	CsumBad       = uint8(sensorCsumStateCSUM_BAD)
)

// Checksum policies of an interface slot (enum csum_mode).
const (
	CsumModeTolerant = uint8(sensorCsumModeCSUM_MODE_TOLERANT)
	CsumModeStrict   = uint8(sensorCsumModeCSUM_MODE_STRICT)
	CsumModeOff      = uint8(sensorCsumModeCSUM_MODE_OFF)
)

// Handshake verdict actions (enum hs_action).
const (
	HSExtend = uint8(sensorHsActionHS_EXTEND)
	HSEnd    = uint8(sensorHsActionHS_END)
)

// Stream states (enum stream_state) for StreamVerdict.State.
const (
	StreamNew     = uint8(sensorStreamStateSTREAM_NEW)
	StreamCapture = uint8(sensorStreamStateSTREAM_CAPTURE)
	StreamSkip    = uint8(sensorStreamStateSTREAM_SKIP)
	StreamIgnore  = uint8(sensorStreamStateSTREAM_IGNORE)
)

// Download gate states (enum hold_state) for FileHold.State.
const (
	HoldOpen  = uint8(sensorHoldStateHOLD_OPEN)
	HoldGated = uint8(sensorHoldStateHOLD_GATED)
	HoldOff   = uint8(sensorHoldStateHOLD_OFF)
)

// TLS tracking states (enum tls_state), as found in Flow.TlsState and in
// Event.State of TLS events.
const (
	TLSNone   = uint32(sensorTlsStateTLS_NONE)
	TLSActive = uint32(sensorTlsStateTLS_ACTIVE)
	TLSDone   = uint32(sensorTlsStateTLS_DONE)
	TLSBudget = uint32(sensorTlsStateTLS_BUDGET)
	TLSNotTLS = uint32(sensorTlsStateTLS_NOT_TLS)
	TLSClosed = uint32(sensorTlsStateTLS_CLOSED)
	TLSIdle   = uint32(sensorTlsStateTLS_IDLE)
	// Ended by userspace through hs_verdicts.
	TLSUserDone   = uint32(sensorTlsStateTLS_USER_DONE)
	TLSUserNotTLS = uint32(sensorTlsStateTLS_USER_NOT_TLS)
)

// NumCounters is the length of CounterSet.V.
const NumCounters = int(sensorCounterC_MAX)

// Counters of the data plane (enum counter).
const (
	CounterPackets         = sensorCounterC_PACKETS
	CounterBytes           = sensorCounterC_BYTES
	CounterParseErrors     = sensorCounterC_PARSE_ERRORS
	CounterTruncated       = sensorCounterC_TRUNCATED
	CounterFragments       = sensorCounterC_FRAGMENTS
	CounterTLSEvents       = sensorCounterC_TLS_EVENTS
	CounterTLSBytes        = sensorCounterC_TLS_BYTES
	CounterTLSDrops        = sensorCounterC_TLS_DROPS
	CounterQUICEvents      = sensorCounterC_QUIC_EVENTS
	CounterQUICBytes       = sensorCounterC_QUIC_BYTES
	CounterQUICDrops       = sensorCounterC_QUIC_DROPS
	CounterStreamEvents    = sensorCounterC_STREAM_EVENTS
	CounterStreamBytes     = sensorCounterC_STREAM_BYTES
	CounterStreamDrops     = sensorCounterC_STREAM_DROPS
	CounterFragEvents      = sensorCounterC_FRAG_EVENTS
	CounterFragBytes       = sensorCounterC_FRAG_BYTES
	CounterFragDrops       = sensorCounterC_FRAG_DROPS
	CounterFlows           = sensorCounterC_FLOWS
	CounterFlowsTLS        = sensorCounterC_FLOWS_TLS
	CounterFlowsQUIC       = sensorCounterC_FLOWS_QUIC
	CounterFlowsStream     = sensorCounterC_FLOWS_STREAM
	CounterStreamSkipped   = sensorCounterC_STREAM_SKIPPED_BYTES
	CounterTLSDone         = sensorCounterC_TLS_DONE
	CounterTLSBudget       = sensorCounterC_TLS_BUDGET
	CounterTLSNewConn      = sensorCounterC_TLS_NEW_CONN
	CounterQUICBudget      = sensorCounterC_QUIC_BUDGET
	CounterStreamIgnored   = sensorCounterC_STREAM_IGNORED_PACKETS
	CounterStreamOverBudg  = sensorCounterC_STREAM_BUDGET_PACKETS
	CounterFlowsLostTLS    = sensorCounterC_FLOWS_LOST_TLS
	CounterFlowsLostQUIC   = sensorCounterC_FLOWS_LOST_QUIC
	CounterFlowsLostStream = sensorCounterC_FLOWS_LOST_STREAM
	CounterDropsNoFlow     = sensorCounterC_DROPS_NO_FLOW
)

// Spec returns a fresh copy of the compiled collection.
func Spec() (*ebpf.CollectionSpec, error) {
	spec, err := loadSensor()
	if err != nil {
		return nil, fmt.Errorf("loading embedded BPF object: %w", err)
	}
	return spec, nil
}

var (
	counterNamesOnce sync.Once
	counterNames     []string
	counterNamesErr  error
)

// CounterNames returns the snake_case name of every counter, indexed by
// Counter, read from the object's BTF (enum counter: C_TLS_EVENTS becomes
// "tls_events") so names and indexes can never drift apart.
func CounterNames() ([]string, error) {
	counterNamesOnce.Do(func() {
		// The BTF alone: the whole collection spec costs 40 times more
		// (its data sections are megabytes), paid again at each replay's
		// end, where the names are first asked for.
		types, err := btf.LoadSpecFromReader(bytes.NewReader(_SensorBytes))
		if err != nil {
			counterNamesErr = fmt.Errorf("reading the BPF object's BTF: %w", err)
			return
		}
		var enum *btf.Enum
		if err := types.TypeByName("counter", &enum); err != nil {
			counterNamesErr = fmt.Errorf("finding enum counter in BTF: %w", err)
			return
		}
		names := make([]string, NumCounters)
		for _, v := range enum.Values {
			if v.Value >= uint64(NumCounters) {
				continue
			}
			names[v.Value] = strings.ToLower(strings.TrimPrefix(v.Name, "C_"))
		}
		for i, n := range names {
			if n == "" {
				counterNamesErr = fmt.Errorf("counter %d has no name in BTF", i)
				return
			}
		}
		counterNames = names
	})
	return counterNames, counterNamesErr
}

// Objects are the loaded program and maps.
type Objects struct {
	Program        *ebpf.Program  `ebpf:"edgesensor_xdp"`
	Handshakes     *ebpf.Map      `ebpf:"handshakes"`
	Streams        *ebpf.Map      `ebpf:"streams"`
	Fragments      *ebpf.Map      `ebpf:"fragments"`
	Flows          *ebpf.Map      `ebpf:"flows"`
	StreamVerdicts *ebpf.Map      `ebpf:"stream_verdicts"`
	HSVerdicts     *ebpf.Map      `ebpf:"hs_verdicts"`
	FragStates     *ebpf.Map      `ebpf:"frag_states"`
	PortApp        *ebpf.Variable `ebpf:"port_app"`
	IfSlots        *ebpf.Map      `ebpf:"ifslots"`
	IfSlotTable    *ebpf.Variable `ebpf:"ifslot"`
	ChainedTable   *ebpf.Variable `ebpf:"chained"`
	CsumModes      *ebpf.Variable `ebpf:"csum_modes"`
	Counters       *ebpf.Map      `ebpf:"counters"`
	TLSFilter      *ebpf.Map      `ebpf:"tls_filter"`
	Scratch        *ebpf.Map      `ebpf:"scratch"`
	// Chain holds, by ingress ifindex, the program the sensor hands
	// what it passes to (sensor.xdp_share = "chain").
	Chain *ebpf.Map `ebpf:"chain"`

	// Enforcement (enforce.h).
	EnfExact4     *ebpf.Map      `ebpf:"enf_exact4"`
	EnfExact6     *ebpf.Map      `ebpf:"enf_exact6"`
	EnfPrefix4    *ebpf.Map      `ebpf:"enf_prefix4"`
	EnfPrefix6    *ebpf.Map      `ebpf:"enf_prefix6"`
	EnfAllow4     *ebpf.Map      `ebpf:"enf_allow4"`
	EnfAllow6     *ebpf.Map      `ebpf:"enf_allow6"`
	FlowBlocks    *ebpf.Map      `ebpf:"flow_blocks"`
	EnfLists      *ebpf.Map      `ebpf:"enf_lists"`
	Actions       *ebpf.Map      `ebpf:"actions"`
	EnforceMode   *ebpf.Variable `ebpf:"enforce_mode"`
	EnfGen        *ebpf.Variable `ebpf:"enf_gen"`
	EnfFreshUntil *ebpf.Variable `ebpf:"enf_fresh_until"`
	FBlockSlots   *ebpf.Variable `ebpf:"fblock_slots"`
	EnfBits4Var   *ebpf.Variable `ebpf:"enf_bits4"`
	// Held downloads (hold.h).
	FileHolds     *ebpf.Map      `ebpf:"file_holds"`
	HoldReqs      *ebpf.Map      `ebpf:"hold_reqs"`
	HoldTimeoutNs *ebpf.Variable `ebpf:"hold_timeout_ns"`
	HoldBacklog   *ebpf.Variable `ebpf:"hold_max_backlog"`
	// Held fragments only while the daemon lives (hold.h frag_hold).
	HoldAliveUntil *ebpf.Variable `ebpf:"hold_alive_until"`
	// The hello gate (tls.h).
	HelloHoldNs     *ebpf.Variable `ebpf:"hello_hold_ns"`
	HelloAliveUntil *ebpf.Variable `ebpf:"hello_alive_until"`

	BSS *ebpf.Map `ebpf:".bss"`

	// inner are the templates of the blocklist tables.
	inner map[string]*ebpf.MapSpec
	enf   enfVars
	// maps and spec, kept when LoadOptions.Extension asks, load the same
	// program again as an extension (freplace) over these maps. (Assign
	// walks pointers to structs, so the spec hides in a func.)
	maps map[string]*ebpf.Map
	spec func() *ebpf.CollectionSpec
}

// InnerSpec returns a copy of the template of the tables the blocklist
// array name (enf_exact4, ...) holds.
func (o *Objects) InnerSpec(name string) (*ebpf.MapSpec, error) {
	s, ok := o.inner[name]
	if !ok || s == nil {
		return nil, fmt.Errorf("no inner map template for %q", name)
	}
	return s.Copy(), nil
}

// Close releases the objects (pinned ones stay pinned).
func (o *Objects) Close() error {
	var errs []error
	for _, c := range []interface{ Close() error }{o.Program, o.Handshakes, o.Streams, o.Fragments, o.Flows,
		o.StreamVerdicts, o.HSVerdicts, o.FragStates, o.IfSlots, o.Counters, o.TLSFilter, o.Scratch, o.Chain,
		o.EnfExact4, o.EnfExact6, o.EnfPrefix4, o.EnfPrefix6, o.EnfAllow4,
		o.EnfAllow6, o.FlowBlocks, o.EnfLists, o.Actions, o.FileHolds, o.HoldReqs, o.BSS} {
		if c == nil {
			continue
		}
		if err := c.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	for _, m := range o.maps {
		if err := m.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	o.maps = nil
	return errors.Join(errs...)
}

// LoadOptions size and configure a load.
type LoadOptions struct {
	Config Config
	// HandshakeRing, StreamRing and FragmentRing are ring-buffer sizes in
	// bytes: a power of two and a multiple of the page size.
	HandshakeRing uint32
	StreamRing    uint32
	FragmentRing  uint32
	// MaxFlows sizes the flow table and the stream verdict table.
	MaxFlows uint32
	// PinPath, when set, pins every map by name in this bpffs directory and
	// reuses maps already pinned there (a restarted daemon adopts them).
	PinPath string
	// Enforce compiles enforcement in (Config.Enforce) and sizes its maps;
	// without it they shrink to nothing. Enforcement maps are never
	// pinned: a restarted daemon starts with no list in force and loads
	// its own (fail open). MaxBlockedFlows sizes the blocked-flow table.
	Enforce         bool
	MaxBlockedFlows uint32
	// Extension keeps what LoadExtension needs: the program can then also
	// run as a component of a libxdp dispatcher, over the same maps.
	Extension bool
}

// PinnedMaps are the maps pinned by name under LoadOptions.PinPath.
var PinnedMaps = []string{"handshakes", "streams", "fragments", "flows", "stream_verdicts",
	"hs_verdicts", "frag_states", "ifslots", "counters", "tls_filter", "scratch", "chain"}

// Load verifies and loads the program with its maps.
func Load(opts LoadOptions) (*Objects, error) {
	spec, err := Spec()
	if err != nil {
		return nil, err
	}
	sizes := map[string]uint32{
		"handshakes":      opts.HandshakeRing,
		"streams":         opts.StreamRing,
		"fragments":       opts.FragmentRing,
		"flows":           opts.MaxFlows,
		"stream_verdicts": opts.MaxFlows,
	}
	if opts.Enforce {
		opts.Config.Enforce = 1
		if opts.MaxBlockedFlows > 0 {
			sizes["flow_blocks"] = opts.MaxBlockedFlows
		}
	} else {
		opts.Config.Enforce = 0
		for _, name := range []string{"enf_allow4", "enf_allow6", "flow_blocks", "enf_lists", "file_holds", "hold_reqs"} {
			sizes[name] = 1
		}
		sizes["actions"] = uint32(os.Getpagesize()) // a ring is whole pages
	}
	if err := spec.Variables["cfg"].Set(opts.Config); err != nil {
		return nil, fmt.Errorf("setting program config: %w", err)
	}
	for name, size := range sizes {
		m, ok := spec.Maps[name]
		if !ok {
			return nil, fmt.Errorf("map %q missing from the BPF object", name)
		}
		if size != 0 {
			m.MaxEntries = size
		}
	}
	var copts ebpf.CollectionOptions
	if opts.PinPath != "" {
		for _, name := range PinnedMaps {
			spec.Maps[name].Pinning = ebpf.PinByName
		}
		copts.Maps.PinPath = opts.PinPath
	}
	objs := Objects{inner: map[string]*ebpf.MapSpec{}}
	for _, name := range []string{"enf_exact4", "enf_exact6", "enf_prefix4", "enf_prefix6"} {
		if m := spec.Maps[name]; m != nil && m.InnerMap != nil {
			objs.inner[name] = m.InnerMap.Copy()
		}
	}
	coll, err := ebpf.NewCollectionWithOptions(spec, copts)
	if err != nil {
		return nil, LoadError("loading XDP program", err)
	}
	defer coll.Close() // what Assign did not take
	var maps map[string]*ebpf.Map
	if opts.Extension {
		maps = make(map[string]*ebpf.Map, len(coll.Maps))
		for name, m := range coll.Maps {
			c, err := m.Clone()
			if err != nil {
				for _, m := range maps {
					m.Close()
				}
				return nil, fmt.Errorf("keeping map %s: %w", name, err)
			}
			maps[name] = c
		}
	}
	err = coll.Assign(&objs)
	objs.maps = maps
	if err != nil {
		objs.Close()
		return nil, fmt.Errorf("loading XDP program: %w", err)
	}
	if opts.Extension {
		objs.spec = spec.Copy
	}
	if err := objs.bindEnfVars(spec, objs.BSS); err != nil {
		objs.Close()
		return nil, err
	}
	return &objs, nil
}

// LoadError wraps a load error, with the verifier's log when there is one.
func LoadError(what string, err error) error {
	var ve *ebpf.VerifierError
	if errors.As(err, &ve) {
		return fmt.Errorf("%s: %+v", what, ve)
	}
	return fmt.Errorf("%s: %w", what, err)
}

// LoadExtension loads the program once more, as an extension (freplace)
// of the function fn of target (a libxdp dispatcher's slot), over the
// maps of o: the same data plane, run as a component of another XDP
// program. The extension can then be linked to other dispatchers' slots
// of the same signature. o must have been loaded with Extension.
func (o *Objects) LoadExtension(target *ebpf.Program, fn string) (*ebpf.Program, error) {
	if o.spec == nil {
		return nil, errors.New("loading the extension: the objects were loaded without LoadOptions.Extension")
	}
	spec := o.spec()
	ps := spec.Programs[ProgramName]
	if ps == nil {
		return nil, fmt.Errorf("program %q missing from the BPF object", ProgramName)
	}
	ps.Type, ps.AttachType = ebpf.Extension, ebpf.AttachNone
	ps.AttachTarget, ps.AttachTo = target, fn
	for name := range spec.Programs {
		if name != ProgramName {
			delete(spec.Programs, name)
		}
	}
	for _, m := range spec.Maps {
		m.Pinning = ebpf.PinNone
	}
	coll, err := ebpf.NewCollectionWithOptions(spec, ebpf.CollectionOptions{MapReplacements: o.maps})
	if err != nil {
		return nil, LoadError("loading the program as an extension", err)
	}
	defer coll.Close()
	p := coll.Programs[ProgramName]
	delete(coll.Programs, ProgramName)
	return p, nil
}

// Object returns the embedded BPF object file for this byte order.
func Object() []byte { return _SensorBytes }
