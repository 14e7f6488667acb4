// Package events is the catalogue of the sensor's event types: one typed
// definition per dataset, whose JSON is what the outputs write and whose
// ecs.Fields are what they read. It decodes a written line back into its
// type (tests, tools) and lists every field an event can carry (the
// schema reference, the privacy allowlist's check).
package events

import (
	"encoding/json"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/edgesensor/edgesensor/userspace/export/ecs"
	"github.com/edgesensor/edgesensor/userspace/files"
	"github.com/edgesensor/edgesensor/userspace/handshake"
)

// Types maps each dataset to a new value of its event type.
var Types = map[string]func() ecs.Document{
	handshake.Dataset:  func() ecs.Document { return new(handshake.Event) },
	files.Dataset:      func() ecs.Document { return new(files.Event) },
	ecs.VerdictDataset: func() ecs.Document { return new(ecs.VerdictEvent) },
	ecs.ActionDataset:  func() ecs.Document { return new(ecs.ActionEvent) },
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

// Field is one leaf of an event's JSON: its dotted path, the datasets
// that carry it and its Go type. An array is one leaf (its elements are
// not named).
type Field struct {
	Path     string
	Datasets []string
	Type     reflect.Type
}

// Fields lists every leaf field any event type can carry, sorted by path.
func Fields() []Field {
	byPath := map[string]*Field{}
	for _, ds := range slices.Sorted(maps.Keys(Types)) {
		walk(reflect.TypeOf(Types[ds]()).Elem(), "", func(path string, t reflect.Type) {
			f := byPath[path]
			if f == nil {
				f = &Field{Path: path, Type: t}
				byPath[path] = f
			}
			f.Datasets = append(f.Datasets, ds)
		})
	}
	out := make([]Field, 0, len(byPath))
	for _, p := range slices.Sorted(maps.Keys(byPath)) {
		out = append(out, *byPath[p])
	}
	return out
}

var timeType = reflect.TypeOf(time.Time{})

// walk calls leaf for each leaf of struct type t under prefix.
func walk(t reflect.Type, prefix string, leaf func(string, reflect.Type)) {
	for i := 0; i < t.NumField(); i++ {
		sf := t.Field(i)
		if !sf.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(sf.Tag.Get("json"), ",")
		if name == "-" {
			continue
		}
		ft := sf.Type
		for ft.Kind() == reflect.Pointer {
			ft = ft.Elem()
		}
		if sf.Anonymous && name == "" && ft.Kind() == reflect.Struct {
			walk(ft, prefix, leaf) // embedded: its fields are inline
			continue
		}
		if name == "" {
			name = sf.Name
		}
		path := name
		if prefix != "" {
			path = prefix + "." + name
		}
		if ft.Kind() == reflect.Struct && ft != timeType {
			walk(ft, path, leaf)
			continue
		}
		leaf(path, ft)
	}
}
