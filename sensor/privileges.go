package sensor

import (
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// Capabilities the sensor needs.
const (
	capNetAdmin = 12
	capSysAdmin = 21
	capPerfmon  = 38
	capBPF      = 39
)

// ErrPrivileges reports missing capabilities.
var ErrPrivileges = errors.New("edgesensor needs CAP_BPF and CAP_NET_ADMIN (and CAP_PERFMON for the verifier) to load and attach XDP programs: run it as root, or grant them with `setcap cap_bpf,cap_net_admin,cap_perfmon+ep edgesensor`")

// CheckPrivileges fails early, with a clear message, when the process lacks
// what loading and attaching XDP takes.
func CheckPrivileges() error {
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3, Pid: int32(os.Getpid())}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return fmt.Errorf("reading process capabilities: %w", err)
	}
	has := func(c uint) bool { return data[c/32].Effective&(1<<(c%32)) != 0 }
	if has(capSysAdmin) && has(capNetAdmin) {
		return nil
	}
	if has(capBPF) && has(capNetAdmin) && has(capPerfmon) {
		return nil
	}
	var missing []string
	if !has(capBPF) && !has(capSysAdmin) {
		missing = append(missing, "CAP_BPF")
	}
	if !has(capNetAdmin) {
		missing = append(missing, "CAP_NET_ADMIN")
	}
	if !has(capPerfmon) && !has(capSysAdmin) {
		missing = append(missing, "CAP_PERFMON")
	}
	return fmt.Errorf("%w (missing %v)", ErrPrivileges, missing)
}

// privilegeHint adds the privilege message to a permission error.
func privilegeHint(err error) error {
	if errors.Is(err, unix.EPERM) || errors.Is(err, unix.EACCES) {
		return fmt.Errorf("%w: %w", ErrPrivileges, err)
	}
	return err
}
