// Package events is the catalogue of the sensor's event types: one typed
// definition per dataset, whose JSON is what the outputs write and whose
// ecs.Fields are what they read. It decodes a written line back into its
// type (tests, tools) and lists every field an event can carry (the
// schema reference, the privacy allowlist's check).
package events

import (
	"encoding/json"
	"fmt"

	"github.com/edgesensor/edgesensor/userspace/ecs"
	"github.com/edgesensor/edgesensor/userspace/files"
	"github.com/edgesensor/edgesensor/userspace/handshake"
)

// Types maps each dataset to a new value of its event type.
var Types = map[string]func() ecs.Document{
	handshake.Dataset:  func() ecs.Document { return new(handshake.Event) },
	files.Dataset:      func() ecs.Document { return new(files.Event) },
	ecs.VerdictDataset: func() ecs.Document { return new(ecs.VerdictEvent) },
}

// Decode reads one event line into its dataset's type.
func Decode(line []byte) (ecs.Document, error) {
	var head struct {
		Event struct {
			Dataset string `json:"dataset"`
		} `json:"event"`
	}
	if err := json.Unmarshal(line, &head); err != nil {
		return nil, fmt.Errorf("decoding an event: %w", err)
	}
	mk, ok := Types[head.Event.Dataset]
	if !ok {
		return nil, fmt.Errorf("decoding an event: unknown dataset %q", head.Event.Dataset)
	}
	d := mk()
	if err := json.Unmarshal(line, d); err != nil {
		return nil, fmt.Errorf("decoding an %s event: %w", head.Event.Dataset, err)
	}
	return d, nil
}

// Record decodes line into the record an output receives.
func Record(line []byte) (ecs.Record, error) {
	d, err := Decode(line)
	if err != nil {
		return ecs.Record{}, err
	}
	return ecs.Record{Fields: d.Fields(), Line: line}, nil
}
