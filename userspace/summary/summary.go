// Package summary is the stand-in pipeline until the analysis lands: it
// writes one NDJSON line per emitted packet, with ECS field names, so an
// operator can see what the data plane passes to userspace.
package summary

import (
	"net/netip"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/edgesensor/edgesensor/userspace/capture"
	"github.com/edgesensor/edgesensor/userspace/output"
)

// Dataset is the event.dataset of summary lines.
const Dataset = "edgesensor.packet"

// Pipeline writes one summary line per event.
type Pipeline struct {
	out *output.NDJSON
}

// New writes to out.
func New(out *output.NDJSON) *Pipeline { return &Pipeline{out: out} }

// NewShard implements capture.Pipeline.
func (p *Pipeline) NewShard(int) capture.Shard {
	return &shard{out: p.out, buf: make([]byte, 0, 1024)}
}

type shard struct {
	out *output.NDJSON
	buf []byte
}

func (s *shard) Handle(ev *capture.Event) {
	s.buf = AppendEvent(s.buf[:0], ev)
	s.out.Write(s.buf)
}

func (s *shard) Tick(time.Time) { s.out.Flush() }

func (s *shard) Close() {}

// AppendEvent appends one NDJSON line for ev. Source is the client, as
// in every edgesensor event; the packet's own direction is a field.
func AppendEvent(b []byte, ev *capture.Event) []byte {
	b = append(b, `{"@timestamp":"`...)
	b = ev.Time.UTC().AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","event":{"kind":"event","dataset":"`...)
	b = append(b, Dataset...)
	b = append(b, `"},"observer":{"ingress":{"interface":{"name":`...)
	b = AppendJSONString(b, ev.Interface)
	b = append(b, `}}},"source":`...)
	b = appendEndpoint(b, ev.Client())
	b = append(b, `,"destination":`...)
	b = appendEndpoint(b, ev.Server())
	b = append(b, `,"network":{"transport":"`...)
	if ev.Proto == capture.ProtoUDP {
		b = append(b, "udp"...)
	} else {
		b = append(b, "tcp"...)
	}
	b = append(b, `"},"edgesensor":{"packet":{"class":"`...)
	b = append(b, ev.Class.String()...)
	b = append(b, `","direction":"`...)
	if ev.FromClient() {
		b = append(b, "to_server"...)
	} else {
		b = append(b, "to_client"...)
	}
	b = append(b, `","frame_bytes":`...)
	b = strconv.AppendInt(b, int64(ev.FrameLen), 10)
	b = append(b, `,"captured_bytes":`...)
	b = strconv.AppendInt(b, int64(len(ev.Frame)), 10)
	b = append(b, `,"payload_bytes":`...)
	b = strconv.AppendInt(b, int64(ev.PayloadLen), 10)
	if ev.Proto == capture.ProtoTCP {
		b = append(b, `,"tcp_seq":`...)
		b = strconv.AppendUint(b, uint64(ev.Seq), 10)
		b = append(b, `,"tcp_flags":"`...)
		b = appendTCPFlags(b, ev.TCPFlags)
		b = append(b, '"')
	}
	if ev.VLAN[0] != 0 {
		b = append(b, `,"vlan":[`...)
		b = strconv.AppendUint(b, uint64(ev.VLAN[0]), 10)
		if ev.VLAN[1] != 0 {
			b = append(b, ',')
			b = strconv.AppendUint(b, uint64(ev.VLAN[1]), 10)
		}
		b = append(b, ']')
	}
	if ev.Lost != 0 {
		b = append(b, `,"lost_before":`...)
		b = strconv.AppendUint(b, uint64(ev.Lost), 10)
	}
	b = append(b, `,"flags":[`...)
	first := true
	ev.Flags.Names(func(n string) {
		if !first {
			b = append(b, ',')
		}
		first = false
		b = append(b, '"')
		b = append(b, n...)
		b = append(b, '"')
	})
	b = append(b, "]}}}\n"...)
	return b
}

// AppendJSONString appends s as a JSON string: quotes, backslashes and
// control characters escaped, invalid UTF-8 replaced, so names from the
// wire or a capture file can never break the line.
func AppendJSONString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				b = append(b, '\\', c)
			case c < 0x20 || c == 0x7f:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			default:
				b = append(b, c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, `\ufffd`...)
		} else {
			b = append(b, s[i:i+size]...)
		}
		i += size
	}
	return append(b, '"')
}

func appendEndpoint(b []byte, ap netip.AddrPort) []byte {
	b = append(b, `{"ip":"`...)
	b = ap.Addr().AppendTo(b)
	b = append(b, `","port":`...)
	b = strconv.AppendUint(b, uint64(ap.Port()), 10)
	return append(b, '}')
}

func appendTCPFlags(b []byte, f uint8) []byte {
	const names = "FSRPAUEC"
	for i := 0; i < 8; i++ {
		if f&(1<<i) != 0 {
			b = append(b, names[i])
		}
	}
	return b
}
