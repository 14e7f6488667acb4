// Package status is what `edgesensor status` shows: every attached
// interface as the pinned maps say, and each sink's state as the running
// daemon says on its metrics listener.
package status

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"text/tabwriter"
	"time"

	"github.com/edgesensor/edgesensor/daemon"
	"github.com/edgesensor/edgesensor/sensor"
	"github.com/edgesensor/edgesensor/userspace/config"
)

// Write writes the status of the interfaces (every pinned one when ifaces
// is empty) and of cfg's sinks to w, as text or, for scripts, JSON.
func Write(w io.Writer, cfg *config.Config, ifaces []string, asJSON bool) error {
	st, err := sensor.ReadStatus(cfg.Sensor.PinPath, ifaces)
	if err != nil {
		return err
	}
	// The sinks' state is the running daemon's: asked on its metrics
	// listener.
	var sinks []daemon.SinkState
	var sinkErr error
	if len(cfg.Output.Sinks) > 0 && cfg.Metrics.Listen != "" {
		sinks, sinkErr = DaemonSinks(cfg.Metrics.Listen)
	}
	if asJSON {
		out := struct {
			sensor.Status
			Sinks     []daemon.SinkState `json:"sinks,omitempty"`
			SinkError string             `json:"sinks_error,omitempty"`
		}{Status: st, Sinks: sinks}
		if sinkErr != nil {
			out.SinkError = sinkErr.Error()
		}
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(out)
	}
	if err := st.WriteText(w); err != nil {
		return err
	}
	switch {
	case len(cfg.Output.Sinks) == 0:
	case cfg.Metrics.Listen == "":
		fmt.Fprintf(w, "\nsinks: %d configured; their state needs metrics.listen (the daemon answers there)\n", len(cfg.Output.Sinks))
	case sinkErr != nil:
		fmt.Fprintf(w, "\nsinks: %v\n", sinkErr)
	default:
		WriteSinks(w, sinks)
	}
	return nil
}

// DaemonSinks asks the daemon's metrics listener for the sinks' state.
func DaemonSinks(listen string) ([]daemon.SinkState, error) {
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return nil, fmt.Errorf("metrics.listen %q: %w", listen, err)
	}
	if host == "" || net.ParseIP(host) != nil && net.ParseIP(host).IsUnspecified() {
		host = "127.0.0.1"
	}
	url := "http://" + net.JoinHostPort(host, port) + daemon.SinksPath
	cl := http.Client{Timeout: 2 * time.Second}
	resp, err := cl.Get(url)
	if err != nil {
		return nil, fmt.Errorf("the daemon does not answer at %s (is edgesensor run running?): %w", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s: %s", url, resp.Status)
	}
	var out []daemon.SinkState
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&out); err != nil {
		return nil, fmt.Errorf("%s: %w", url, err)
	}
	return out, nil
}

// WriteSinks writes the sinks' state as a table, after a blank line.
func WriteSinks(w io.Writer, sinks []daemon.SinkState) {
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SINK	TYPE	STATE	SENT	DROPPED	QUEUED	SPOOLED	ERRORS	LAST ERROR")
	for _, s := range sinks {
		state := "connected"
		if !s.Connected {
			state = "down"
		}
		spooled := "-"
		if s.Type == "kafka" {
			spooled = fmt.Sprintf("%d", s.Spooled)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%d\t%s\t%d\t%s\n", s.Name, s.Type, state, s.Sent, s.Dropped, s.Queued+s.Inflight, spooled, s.Errors, s.LastError)
	}
	tw.Flush()
}
