package daemon

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/edgesensor/edgesensor/sensor"
)

// quietWatch tells, per attached interface, whether it has seen no
// packets, or no TLS/QUIC handshakes, for longer than after. An attached
// interface that sees nothing is blind (a recabled port, a mirror
// session gone, traffic rerouted round the router), and counters that do
// not move look the same as counters of a quiet night: the NOC must be
// told which it is.
type quietWatch struct {
	after time.Duration

	mu     sync.Mutex
	ifaces map[string]*seen
}

// seen is what an interface's counters did lately.
type seen struct {
	packets, handshakes     uint64
	packetAt, handshakeAt   time.Time // when each counter last moved (or watching began)
	quietPkts, quietHshakes bool
}

// Quiet kinds, as metrics label them.
const (
	quietPackets    = "packets"
	quietHandshakes = "handshakes"
)

// quietChange is an interface going quiet or coming back.
type quietChange struct {
	Iface, What string
	Quiet       bool
	Since       time.Time // the last time the counter moved
}

func newQuietWatch(after time.Duration) *quietWatch {
	return &quietWatch{after: after, ifaces: map[string]*seen{}}
}

// observe takes one reading of the interfaces' counters at now and
// returns what changed state.
func (w *quietWatch) observe(now time.Time, st sensor.Status) []quietChange {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []quietChange
	live := map[string]bool{}
	for _, is := range st.Interfaces {
		if is.Error != "" {
			continue // not attached: health says so already
		}
		live[is.Iface] = true
		pk, hs := is.Counters["packets"], is.Counters["tls_events"]+is.Counters["quic_events"]
		s := w.ifaces[is.Iface]
		if s == nil {
			w.ifaces[is.Iface] = &seen{packets: pk, handshakes: hs, packetAt: now, handshakeAt: now}
			continue
		}
		if pk != s.packets {
			s.packets, s.packetAt = pk, now
		}
		if hs != s.handshakes {
			s.handshakes, s.handshakeAt = hs, now
		}
		if q := now.Sub(s.packetAt) >= w.after; q != s.quietPkts {
			s.quietPkts = q
			out = append(out, quietChange{is.Iface, quietPackets, q, s.packetAt})
		}
		if q := now.Sub(s.handshakeAt) >= w.after; q != s.quietHshakes {
			s.quietHshakes = q
			out = append(out, quietChange{is.Iface, quietHandshakes, q, s.handshakeAt})
		}
	}
	for name := range w.ifaces {
		if !live[name] {
			delete(w.ifaces, name)
		}
	}
	return out
}

// quiet returns, per interface, which kinds are quiet now.
func (w *quietWatch) quiet() map[string][]string {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := map[string][]string{}
	for name, s := range w.ifaces {
		var kinds []string
		if s.quietPkts {
			kinds = append(kinds, quietPackets)
		}
		if s.quietHshakes {
			kinds = append(kinds, quietHandshakes)
		}
		out[name] = kinds
	}
	return out
}

// err is the health verdict: the first quiet interface, named.
func (w *quietWatch) err(now time.Time) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	names := make([]string, 0, len(w.ifaces))
	for n := range w.ifaces {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		s := w.ifaces[n]
		switch {
		case s.quietPkts:
			return fmt.Errorf("%s: no packets for %v", n, now.Sub(s.packetAt).Round(time.Second))
		case s.quietHshakes:
			return fmt.Errorf("%s: no TLS or QUIC handshakes for %v", n, now.Sub(s.handshakeAt).Round(time.Second))
		}
	}
	return nil
}

// run reads the pinned counters every tick until ctx ends, logging every
// change of state.
func (w *quietWatch) run(ctx context.Context, pinPath string, log zerolog.Logger) {
	tick := min(w.after/4, 30*time.Second)
	t := time.NewTicker(max(tick, time.Second))
	defer t.Stop()
	for {
		st, err := sensor.ReadInterfaces(pinPath, nil)
		if err == nil {
			for _, c := range w.observe(time.Now(), st) {
				if c.Quiet {
					log.Warn().Str("iface", c.Iface).Time("last", c.Since).
						Msgf("no %s on this interface for %v (metrics.quiet_after): is it still where the traffic is?", c.What, w.after)
				} else {
					log.Info().Str("iface", c.Iface).Msgf("%s seen again", c.What)
				}
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
