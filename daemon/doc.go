// Package daemon is the sensor as it runs: the data plane (package sensor)
// attached to the interfaces or replaying captures, the analysis behind
// it (handshakes, files), the outputs every event goes to (the events
// file, SIEM sinks, the cloud uplink, metrics), and what a reload may
// change while it runs. The edgesensor command parses flags and the
// config, then calls Run or Replay.
package daemon
