// Command craftcheck checks what the sensor reported for a crafted capture
// against its truth:
//
//	edgesensor replay --stats X.pcap >X.events 2>X.err
//	craftcheck -truth X.truth.json -events X.events -stats X.err
//
// It prints what differs and exits 1, or prints "pass".
package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"sort"
	"strings"

	"github.com/edgesensor/edgesensor/internal/craft"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "craftcheck:", err)
		os.Exit(2)
	}
}

func run() error {
	truth := flag.String("truth", "", "the case's NAME.truth.json")
	events := flag.String("events", "", "the events replay wrote (NDJSON)")
	stats := flag.String("stats", "", "replay's stderr: its last line is the --stats JSON")
	flag.Parse()
	if *truth == "" || *events == "" || *stats == "" {
		return fmt.Errorf("-truth, -events and -stats are required")
	}
	b, err := os.ReadFile(*truth)
	if err != nil {
		return err
	}
	var tr craft.Truth
	if err := json.Unmarshal(b, &tr); err != nil {
		return fmt.Errorf("%s: %w", *truth, err)
	}
	f, err := os.Open(*events)
	if err != nil {
		return err
	}
	defer f.Close()
	evs, err := craft.ReadEvents(f)
	if err != nil {
		return fmt.Errorf("%s: %w", *events, err)
	}
	b, err = os.ReadFile(*stats)
	if err != nil {
		return err
	}
	lines := bytes.Split(bytes.TrimSpace(b), []byte("\n"))
	st, err := craft.FlattenStats(lines[len(lines)-1])
	if err != nil {
		return fmt.Errorf("%s: %w", *stats, err)
	}
	bad := craft.Check(tr, evs, st)
	if len(bad) == 0 {
		fmt.Println("pass")
		return nil
	}
	sort.Strings(bad)
	fmt.Println("FAIL: " + strings.Join(bad, "; "))
	os.Exit(1)
	return nil
}
