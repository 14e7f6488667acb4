// Package deploy holds what ships beside the binary for the NOC: the
// Prometheus alert rules (prometheus/) and the Grafana dashboard
// (grafana/). It has no code; its tests check that every expression in
// them parses and names only metrics the sensor exports.
package deploy
