package daemon

import (
	"github.com/edgesensor/edgesensor/sensor"
)

// dataPlane is what the analysis steers in the kernel: the verdict maps
// and the checksum policy. A live sensor and a replayer both are one.
type dataPlane interface {
	Verdicts() *sensor.VerdictWriter
	HSVerdicts() *sensor.HSVerdictWriter
	ChecksumMode(ifindex uint32, strict bool)
}
