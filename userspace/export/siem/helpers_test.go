package siem

import (
	"github.com/edgesensor/edgesensor/userspace/export/ecs"
	"github.com/edgesensor/edgesensor/userspace/export/events"
)

// rec is the record the outputs receive for a test line: its fields
// decoded through the event types (userspace/export/events), or none for a line
// the sensor would never write (it is still sent as it is).
func rec(line []byte) *ecs.Record {
	r, err := events.Record(line)
	if err != nil {
		return &ecs.Record{Line: line}
	}
	return &r
}

// fieldsOf is rec's fields for a string.
func fieldsOf(line string) *ecs.Fields { return &rec([]byte(line)).Fields }
