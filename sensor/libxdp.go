package sensor

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"golang.org/x/sys/unix"

	"github.com/edgesensor/edgesensor/bpf"
)

// libxdp's multi-program dispatcher, version 2 of its protocol
// (xdp-tools, lib/libxdp/protocol.org): an XDP program with ten stub
// functions prog0..prog9 that component programs replace (freplace),
// run in order of priority while each returns one of its chain-call
// actions. Every tool that speaks the protocol (xdp-loader, xdp-filter,
// anything on libxdp) sees the others' programs through pins under
// bpffs/xdp/dispatch-IFINDEX-DISPATCHERID/progN-{prog,link}, changed
// under a flock of bpffs/xdp, and swaps whole dispatchers atomically.
// The sensor joins as one more component; its maps stay its own.
const (
	dispatcherName    = "xdp_dispatcher"
	dispatcherMagic   = 236
	dispatcherVersion = 2
	dispatcherRetval  = 31 // what an empty stub returns; always a chain-call action
	dispatcherSlots   = 10

	xdpFlagsUpdateIfNoExist = 1 << 0
	xdpFlagsSKB             = 1 << 1
	xdpFlagsDRV             = 1 << 2
	xdpFlagsReplace         = 1 << 4
	iflaXDPExpectedFD       = 8
	bpfFXDPHasFrags         = 1 << 5
)

// dispatcherConfig is the dispatcher's .rodata (struct xdp_dispatcher_config).
type dispatcherConfig struct {
	Magic            uint8
	Version          uint8
	NumProgsEnabled  uint8
	IsXDPFrags       uint8
	ChainCallActions [dispatcherSlots]uint32
	RunPrios         [dispatcherSlots]uint32
	ProgramFlags     [dispatcherSlots]uint32
}

// ErrNotDispatcher: the program on the interface is not libxdp's dispatcher.
var ErrNotDispatcher = errors.New("not a libxdp dispatcher")

// ErrNoExtensions: the kernel refuses program extensions (freplace),
// which the dispatcher is made of. libxdp then falls back to one program
// per interface itself (`xdp-loader load -vv` says "Compatibility check
// for dispatcher program failed").
var ErrNoExtensions = errors.New("this kernel refuses program extensions (freplace), which libxdp's " +
	"dispatcher needs (libxdp, too, falls back to one program per interface here); set " +
	"sensor.xdp_share = \"auto\" or \"off\" to attach alone, or \"chain\" to run beside another program")

// component is one program of a dispatcher.
type component struct {
	prog  *ebpf.Program // nil: ours, to be loaded against the new dispatcher
	name  string
	id    ebpf.ProgramID
	prio  uint32
	chain uint32 // chain-call actions, without the stubs' bit
	flags uint32 // BPF_F_XDP_HAS_FRAGS or 0
	ours  bool
}

// dispatcher is libxdp's dispatcher on an interface, as read or as built.
type dispatcher struct {
	ifindex int
	prog    *ebpf.Program // nil: nothing attached
	id      ebpf.ProgramID
	mode    string
	comps   []component
	links   []link.Link // made by build; pinned
}

func (d *dispatcher) close() {
	if d == nil {
		return
	}
	for _, c := range d.comps {
		if c.prog != nil {
			c.prog.Close()
		}
	}
	for _, l := range d.links {
		l.Close()
	}
	if d.prog != nil {
		d.prog.Close()
	}
}

// ours returns the sensor's component, if the dispatcher holds one.
func (d *dispatcher) ours() (component, bool) {
	for _, c := range d.comps {
		if c.ours {
			return c, true
		}
	}
	return component{}, false
}

// libxdpDir is libxdp's pin directory: $LIBXDP_BPFFS/xdp, as libxdp
// itself reads it, so that every tool sees the same pins.
func libxdpDir() string {
	root := os.Getenv("LIBXDP_BPFFS")
	if root == "" {
		root = "/sys/fs/bpf"
	}
	return filepath.Join(root, "xdp")
}

func dispatcherPinDir(ifindex int, id ebpf.ProgramID) string {
	return filepath.Join(libxdpDir(), fmt.Sprintf("dispatch-%d-%d", ifindex, id))
}

// libxdpLock takes libxdp's lock (a flock of its pin directory), shared
// for reading or exclusive for a change. A change waits at most 10 s
// for a tool that holds it, then fails; a reader (status, a scrape)
// waits a second, then reads without it rather than hang or say wrong.
func libxdpLock(exclusive bool) (*os.File, error) {
	dir := libxdpDir()
	var st unix.Statfs_t
	if err := unix.Statfs(filepath.Dir(dir), &st); err != nil || st.Type != unix.BPF_FS_MAGIC {
		return nil, fmt.Errorf("libxdp's pins need bpffs at %s (mount it, or set LIBXDP_BPFFS to the bpffs "+
			"every XDP tool on this host uses)", filepath.Dir(dir))
	}
	if exclusive {
		if err := os.Mkdir(dir, 0o700); err != nil && !errors.Is(err, os.ErrExist) {
			return nil, fmt.Errorf("making libxdp's pin directory: %w", err)
		}
	}
	f, err := os.Open(dir)
	if err != nil {
		return nil, fmt.Errorf("opening libxdp's pin directory: %w", err)
	}
	how, wait := unix.LOCK_SH, time.Second
	if exclusive {
		how, wait = unix.LOCK_EX, 10*time.Second
	}
	for deadline := time.Now().Add(wait); ; time.Sleep(20 * time.Millisecond) {
		if err = unix.Flock(int(f.Fd()), how|unix.LOCK_NB); err != unix.EWOULDBLOCK || time.Now().After(deadline) {
			break
		}
	}
	if errors.Is(err, unix.EWOULDBLOCK) && !exclusive {
		return f, nil
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("locking libxdp's pin directory %s (another XDP tool holds it): %w", dir, err)
	}
	return f, nil
}

// readDispatcher reads what is attached to ifindex: nothing (prog nil),
// or libxdp's dispatcher with its components, opened from libxdp's pins.
// Another program gives ErrNotDispatcher. The caller holds the lock.
func readDispatcher(ifindex int) (*dispatcher, error) {
	attached, id, mode, err := xdpState(ifindex)
	if err != nil {
		return nil, err
	}
	d := &dispatcher{ifindex: ifindex, mode: mode}
	if !attached {
		return d, nil
	}
	if id == 0 {
		return nil, fmt.Errorf("XDP programs in several modes at once: %w", ErrNotDispatcher)
	}
	p, err := ebpf.NewProgramFromID(ebpf.ProgramID(id))
	if err != nil {
		return nil, fmt.Errorf("opening XDP program %d: %w", id, err)
	}
	d.prog, d.id = p, ebpf.ProgramID(id)
	info, err := p.Info()
	if err != nil {
		d.close()
		return nil, fmt.Errorf("reading XDP program %d: %w", id, err)
	}
	if info.Name != dispatcherName {
		d.close()
		return nil, fmt.Errorf("program %q (id %d): %w", info.Name, id, ErrNotDispatcher)
	}
	cfg, err := readDispatcherConfig(info)
	if err != nil {
		d.close()
		return nil, fmt.Errorf("libxdp dispatcher %d: %w", id, err)
	}
	dir := dispatcherPinDir(ifindex, d.id)
	for i := 0; i < int(cfg.NumProgsEnabled); i++ {
		cp, err := ebpf.LoadPinnedProgram(filepath.Join(dir, fmt.Sprintf("prog%d-prog", i)), nil)
		if err != nil {
			d.close()
			return nil, fmt.Errorf("opening component %d of libxdp dispatcher %d: %w (libxdp's pins under %s: "+
				"every tool must see the same bpffs; LIBXDP_BPFFS sets it)", i, id, err, libxdpDir())
		}
		c := component{prog: cp, prio: cfg.RunPrios[i], chain: cfg.ChainCallActions[i] &^ (1 << dispatcherRetval),
			flags: cfg.ProgramFlags[i] & bpfFXDPHasFrags}
		if ci, err := cp.Info(); err == nil {
			c.name = ci.Name
			c.id, _ = ci.ID()
		}
		c.ours = c.name == bpf.ProgramName
		d.comps = append(d.comps, c)
	}
	return d, nil
}

// readDispatcherConfig reads a dispatcher's configuration from its one
// map, refusing versions other than 2 as libxdp does.
func readDispatcherConfig(info *ebpf.ProgramInfo) (dispatcherConfig, error) {
	var cfg dispatcherConfig
	ids, _ := info.MapIDs()
	if len(ids) != 1 {
		return cfg, fmt.Errorf("%d maps where the dispatcher has one", len(ids))
	}
	m, err := ebpf.NewMapFromID(ids[0])
	if err != nil {
		return cfg, fmt.Errorf("opening its configuration: %w", err)
	}
	defer m.Close()
	if m.KeySize() != 4 || m.MaxEntries() != 1 || m.ValueSize() < 2 {
		return cfg, errors.New("its configuration map has an unknown shape")
	}
	raw := make([]byte, m.ValueSize())
	if err := m.Lookup(uint32(0), &raw); err != nil {
		return cfg, fmt.Errorf("reading its configuration: %w", err)
	}
	switch {
	case raw[0] != dispatcherMagic:
		return cfg, errors.New("a version-1 dispatcher (libxdp before 1.3): unload its programs with that " +
			"version's xdp-loader, or update xdp-tools, then attach again")
	case raw[1] != dispatcherVersion:
		return cfg, fmt.Errorf("dispatcher version %d; edgesensor speaks version %d", raw[1], dispatcherVersion)
	case len(raw) != binary.Size(cfg):
		return cfg, fmt.Errorf("a configuration of %d bytes, not %d", len(raw), binary.Size(cfg))
	}
	if err := binary.Read(bytes.NewReader(raw), binary.NativeEndian, &cfg); err != nil {
		return cfg, err
	}
	if cfg.NumProgsEnabled > dispatcherSlots {
		return cfg, fmt.Errorf("%d programs in %d slots", cfg.NumProgsEnabled, dispatcherSlots)
	}
	return cfg, nil
}

// sharedState tells whether the program prog of ours is a component of
// the dispatcher on ifindex, with the id of its link there.
func sharedState(ifindex int, prog ebpf.ProgramID) (bool, link.ID, error) {
	lock, err := libxdpLock(false)
	if err != nil {
		return false, 0, err
	}
	defer lock.Close()
	d, err := readDispatcher(ifindex)
	if err != nil {
		return false, 0, err
	}
	defer d.close()
	for i, c := range d.comps {
		if c.id != prog {
			continue
		}
		var id link.ID
		if l, err := link.LoadPinnedLink(filepath.Join(dispatcherPinDir(ifindex, d.id), fmt.Sprintf("prog%d-link", i)), nil); err == nil {
			if info, err := l.Info(); err == nil {
				id = info.ID
			}
			l.Close()
		}
		return true, id, nil
	}
	return false, 0, nil
}

// dispatcherOthers names the programs other than ours in the dispatcher
// on ifindex.
func dispatcherOthers(ifindex int) ([]string, error) {
	lock, err := libxdpLock(false)
	if err != nil {
		return nil, err
	}
	defer lock.Close()
	d, err := readDispatcher(ifindex)
	if err != nil {
		return nil, err
	}
	defer d.close()
	var out []string
	for _, c := range d.comps {
		if !c.ours {
			out = append(out, c.name)
		}
	}
	return out, nil
}

// isDispatcher reports whether the program attached to ifindex is
// libxdp's dispatcher.
func isDispatcher(ifindex int) bool {
	attached, id, _, err := xdpState(ifindex)
	return err == nil && attached && programName(id) == dispatcherName
}
