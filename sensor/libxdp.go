package sensor

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"

	"github.com/edgesensor/edgesensor/bpf"
	"github.com/edgesensor/edgesensor/userspace/config"
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

// DispatcherObject finds libxdp's compiled dispatcher, as libxdp does:
// $LIBXDP_OBJECT_PATH first, then the usual library directories. The
// sensor loads the installed one, so its dispatcher is the very program
// the installed xdp-tools build.
func DispatcherObject() (string, error) {
	var dirs []string
	if p := os.Getenv("LIBXDP_OBJECT_PATH"); p != "" {
		dirs = append(dirs, filepath.SplitList(p)...)
	}
	arch, _ := filepath.Glob("/usr/lib/*-linux-gnu*/bpf")
	dirs = append(dirs, arch...)
	dirs = append(dirs, "/usr/lib/bpf", "/usr/lib64/bpf", "/usr/local/lib/bpf", "/usr/local/lib64/bpf")
	for _, d := range dirs {
		f := filepath.Join(d, "xdp-dispatcher.o")
		if _, err := os.Stat(f); err == nil {
			return f, nil
		}
	}
	return "", errors.New("libxdp's dispatcher (xdp-dispatcher.o) is not installed: install libxdp " +
		"(Debian: libxdp1), set LIBXDP_OBJECT_PATH to its directory, or set sensor.xdp_share = \"off\"")
}

// sortComponents orders components as libxdp runs them: by priority,
// then by name; otherwise as they were.
func sortComponents(cs []component) {
	sort.SliceStable(cs, func(i, j int) bool {
		if cs[i].prio != cs[j].prio {
			return cs[i].prio < cs[j].prio
		}
		return cs[i].name < cs[j].name
	})
}

// extLoader loads the sensor's program as an extension of target's
// function fn (once; later calls may return the same program).
type extLoader func(target *ebpf.Program, fn string) (*ebpf.Program, error)

// buildDispatcher loads a dispatcher for comps (ours with a nil prog),
// links every component into its slot and pins it all as libxdp does.
// The new dispatcher is not attached yet.
// It owns the components' programs from then on, built or not.
func buildDispatcher(ifindex int, comps []component, ext extLoader) (*dispatcher, error) {
	d := &dispatcher{ifindex: ifindex, comps: comps}
	sortComponents(comps)
	var err error
	if d.prog, err = loadDispatcher(comps); err != nil {
		d.close()
		return nil, err
	}
	info, err := d.prog.Info()
	if err != nil {
		d.close()
		return nil, fmt.Errorf("reading the new dispatcher: %w", err)
	}
	d.id, _ = info.ID()
	for i := range d.comps {
		c := &d.comps[i]
		slot := fmt.Sprintf("prog%d", i)
		if c.prog == nil {
			p, err := ext(d.prog, slot)
			if errors.Is(err, unix.EPERM) {
				err = fmt.Errorf("%w: %w", ErrNoExtensions, err)
			}
			if err != nil {
				d.close()
				return nil, err
			}
			if c.prog, err = p.Clone(); err != nil {
				d.close()
				return nil, err
			}
		}
		l, err := link.AttachFreplace(d.prog, slot, c.prog)
		if err != nil {
			d.close()
			return nil, fmt.Errorf("linking %q into the dispatcher's %s: %w", c.name, slot, err)
		}
		d.links = append(d.links, l)
	}
	if err := d.pin(); err != nil {
		d.unpin()
		d.close()
		return nil, err
	}
	return d, nil
}

// loadDispatcher loads the installed dispatcher configured for comps,
// in that order.
func loadDispatcher(comps []component) (*ebpf.Program, error) {
	spec, err := dispatcherSpec(len(comps))
	if err != nil {
		return nil, err
	}
	cfg := dispatcherConfig{Magic: dispatcherMagic, Version: dispatcherVersion, NumProgsEnabled: uint8(len(comps))}
	frags := len(comps) > 0
	for i, c := range comps {
		cfg.ChainCallActions[i] = c.chain | 1<<dispatcherRetval
		cfg.RunPrios[i] = c.prio
		cfg.ProgramFlags[i] = c.flags
		frags = frags && c.flags&bpfFXDPHasFrags != 0
	}
	if frags {
		cfg.IsXDPFrags = 1
		spec.Programs[dispatcherName].Flags |= bpfFXDPHasFrags
	}
	// conf is static, so not a variable to cilium/ebpf: it is the whole
	// of .rodata, written as libbpf would before the load freezes it.
	var buf bytes.Buffer
	_ = binary.Write(&buf, binary.NativeEndian, cfg)
	spec.Maps[".rodata"].Contents = []ebpf.MapKV{{Key: uint32(0), Value: buf.Bytes()}}
	coll, err := ebpf.NewCollection(spec)
	if err != nil {
		return nil, bpf.LoadError("loading libxdp's dispatcher", err)
	}
	p := coll.Programs[dispatcherName]
	delete(coll.Programs, dispatcherName)
	coll.Close()
	return p, nil
}

// dispatcherSpec reads the installed dispatcher for n components.
func dispatcherSpec(n int) (*ebpf.CollectionSpec, error) {
	if n > dispatcherSlots {
		return nil, fmt.Errorf("libxdp's dispatcher holds %d programs; %d would share this interface", dispatcherSlots, n)
	}
	obj, err := DispatcherObject()
	if err != nil {
		return nil, err
	}
	spec, err := ebpf.LoadCollectionSpec(obj)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", obj, err)
	}
	ro := spec.Maps[".rodata"]
	if spec.Programs[dispatcherName] == nil || ro == nil || ro.ValueSize != uint32(binary.Size(dispatcherConfig{})) {
		return nil, fmt.Errorf("%s is not libxdp's dispatcher of version %d (program %s, a configuration of %d bytes)",
			obj, dispatcherVersion, dispatcherName, binary.Size(dispatcherConfig{}))
	}
	for name := range spec.Programs {
		if name != dispatcherName {
			delete(spec.Programs, name) // xdp_pass, which libxdp keeps for its own probes
		}
	}
	return spec, nil
}

// pin pins every component and its link under the dispatcher's directory.
func (d *dispatcher) pin() error {
	dir := dispatcherPinDir(d.ifindex, d.id)
	if err := os.Mkdir(dir, 0o700); err != nil {
		return fmt.Errorf("pinning the dispatcher: %w", err)
	}
	for i, c := range d.comps {
		// A clone has no pin path of its own, so Pin pins anew rather
		// than moving the old dispatcher's pin.
		p, err := c.prog.Clone()
		if err != nil {
			return err
		}
		err = p.Pin(filepath.Join(dir, fmt.Sprintf("prog%d-prog", i)))
		p.Close()
		if err != nil {
			return fmt.Errorf("pinning component %d: %w", i, err)
		}
		if err := d.links[i].Pin(filepath.Join(dir, fmt.Sprintf("prog%d-link", i))); err != nil {
			return fmt.Errorf("pinning link %d: %w", i, err)
		}
	}
	return nil
}

// unpin removes the dispatcher's pins (its links then detach from it
// once nothing else holds them).
func (d *dispatcher) unpin() {
	if d == nil || d.prog == nil {
		return
	}
	dir := dispatcherPinDir(d.ifindex, d.id)
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		_ = os.Remove(filepath.Join(dir, e.Name()))
	}
	_ = os.Remove(dir)
}

// setXDP attaches fd (-1: nothing) to ifindex through netlink, replacing
// exactly the program expected (nil: only if nothing is attached), as
// libxdp does. EEXIST or EBUSY says another change came first.
func setXDP(ifindex, fd int, expected *ebpf.Program, modeFlags uint32) error {
	req := nl.NewNetlinkRequest(unix.RTM_SETLINK, unix.NLM_F_ACK)
	msg := nl.NewIfInfomsg(unix.AF_UNSPEC)
	msg.Index = int32(ifindex)
	req.AddData(msg)
	attrs := nl.NewRtAttr(unix.IFLA_XDP|unix.NLA_F_NESTED, nil)
	attrs.AddRtAttr(nl.IFLA_XDP_FD, binary.NativeEndian.AppendUint32(nil, uint32(fd)))
	flags := modeFlags
	if expected != nil {
		flags |= xdpFlagsReplace
		attrs.AddRtAttr(iflaXDPExpectedFD, binary.NativeEndian.AppendUint32(nil, uint32(expected.FD())))
	} else {
		flags |= xdpFlagsUpdateIfNoExist
	}
	attrs.AddRtAttr(nl.IFLA_XDP_FLAGS, binary.NativeEndian.AppendUint32(nil, flags))
	req.AddData(attrs)
	_, err := req.Execute(unix.NETLINK_ROUTE, 0)
	return err
}

func modeFlags(mode string) uint32 {
	switch mode {
	case config.ModeGeneric:
		return xdpFlagsSKB
	case config.ModeNative:
		return xdpFlagsDRV
	}
	return 0
}

// shareResult is what joining a dispatcher did.
type shareResult struct {
	ext      *ebpf.Program // our component, now in the dispatcher
	linkID   link.ID
	mode     string
	replaced bool // an earlier program of ours was in the dispatcher
	others   []string
}

// errRetry: the interface changed while a dispatcher was built.
var errRetry = errors.New("the interface's XDP program changed meanwhile")

// joinDispatcher puts the sensor into the libxdp dispatcher of ifindex,
// making one if the interface has none, and replacing an earlier program
// of ours; the other components keep their programs, priorities and
// actions. The swap is atomic: the interface is never without either
// dispatcher.
func joinDispatcher(ifindex int, mode string, prio uint32, ext extLoader) (*shareResult, error) {
	lock, err := libxdpLock(true)
	if err != nil {
		return nil, err
	}
	defer lock.Close()
	for try := 0; ; try++ {
		res, err := joinOnce(ifindex, mode, prio, ext)
		if errors.Is(err, errRetry) && try < 3 {
			continue
		}
		return res, err
	}
}

func joinOnce(ifindex int, mode string, prio uint32, ext extLoader) (*shareResult, error) {
	old, err := readDispatcher(ifindex)
	if err != nil {
		return nil, err
	}
	defer old.close()
	res := &shareResult{}
	var comps []component
	for _, c := range old.comps {
		if c.ours {
			res.replaced = true
			continue
		}
		res.others = append(res.others, c.name)
		comps = append(comps, component{prog: c.prog, name: c.name, id: c.id, prio: c.prio, chain: c.chain, flags: c.flags})
	}
	// The sensor passes what it does not act on and drops what it blocks:
	// only its XDP_PASS lets the next program run.
	comps = append(comps, component{name: bpf.ProgramName, prio: prio, chain: 1 << 2 /* XDP_PASS */, ours: true})
	// The others' programs go to the new dispatcher.
	for i := range old.comps {
		if !old.comps[i].ours {
			old.comps[i].prog = nil
		}
	}
	nd, err := buildDispatcher(ifindex, comps, ext)
	if err != nil {
		return nil, err
	}
	if err := swapDispatcher(old, nd, mode); err != nil {
		nd.unpin()
		nd.close()
		return nil, err
	}
	old.unpin()
	for i := range nd.comps {
		if c := &nd.comps[i]; c.ours {
			if info, err := nd.links[i].Info(); err == nil {
				res.linkID = info.ID
			}
			res.ext, c.prog = c.prog, nil // the caller's now
		}
	}
	nd.close()
	_, _, res.mode, _ = xdpState(ifindex)
	return res, nil
}

// swapDispatcher attaches nd in place of old (or of nothing).
func swapDispatcher(old, nd *dispatcher, mode string) error {
	fd := -1
	if nd != nil {
		fd = nd.prog.FD()
	}
	var err error
	switch {
	case old.prog != nil:
		// A replacement keeps the mode the interface runs.
		err = setXDP(old.ifindex, fd, old.prog, modeFlags(old.mode))
	case mode == config.ModeAuto:
		if err = setXDP(old.ifindex, fd, nil, xdpFlagsDRV); err != nil && !errors.Is(err, unix.EEXIST) && !errors.Is(err, unix.EBUSY) {
			err = setXDP(old.ifindex, fd, nil, xdpFlagsSKB)
		}
	default:
		err = setXDP(old.ifindex, fd, nil, modeFlags(mode))
	}
	if errors.Is(err, unix.EEXIST) || errors.Is(err, unix.EBUSY) {
		return fmt.Errorf("%w: %w", errRetry, err)
	}
	if err != nil {
		hint := ""
		if mode == config.ModeNative && (errors.Is(err, unix.EOPNOTSUPP) || errors.Is(err, unix.EINVAL)) {
			hint = " (the driver may lack native XDP: set sensor.xdp_mode = \"auto\" or \"generic\")"
		}
		return fmt.Errorf("attaching libxdp's dispatcher: %w%s", err, hint)
	}
	return nil
}

// leaveDispatcher takes the sensor out of the dispatcher of ifindex: the
// others keep running in a new one, or the dispatcher goes when none is
// left. It reports whether a program of ours was there.
func leaveDispatcher(ifindex int) (bool, error) {
	lock, err := libxdpLock(true)
	if err != nil {
		return false, err
	}
	defer lock.Close()
	for try := 0; ; try++ {
		found, err := leaveOnce(ifindex)
		if errors.Is(err, errRetry) && try < 3 {
			continue
		}
		return found, err
	}
}

func leaveOnce(ifindex int) (bool, error) {
	old, err := readDispatcher(ifindex)
	if err != nil {
		if errors.Is(err, ErrNotDispatcher) {
			return false, nil // nothing of ours is in a dispatcher here
		}
		return false, err
	}
	defer old.close()
	if _, ok := old.ours(); !ok {
		return false, nil
	}
	var rest []component
	for i, c := range old.comps {
		if !c.ours {
			rest = append(rest, c)
			old.comps[i].prog = nil
		}
	}
	if len(rest) == 0 {
		if err := swapDispatcher(old, nil, ""); err != nil {
			return true, err
		}
		old.unpin()
		return true, nil
	}
	nd, err := buildDispatcher(ifindex, rest, nil)
	if err != nil {
		return true, err
	}
	if err := swapDispatcher(old, nd, ""); err != nil {
		nd.unpin()
		nd.close()
		return true, err
	}
	old.unpin()
	nd.close()
	return true, nil
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
