package events

import (
	"bytes"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// The event schema reference (docs/event-schema.md) is generated from the
// event types: every field, its JSON type, the datasets that carry it and
// the doc comment its Go field has. The test fails when the committed file
// is not what the types say; UPDATE_SCHEMA=1 rewrites it.
func TestSchemaReferenceCurrent(t *testing.T) {
	got := schemaMarkdown(t)
	const path = "../../../docs/event-schema.md"
	if os.Getenv("UPDATE_SCHEMA") != "" {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (UPDATE_SCHEMA=1 go test ./userspace/export/events writes it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s is not what the event types say: run UPDATE_SCHEMA=1 go test ./userspace/export/events", path)
	}
}

// fieldDocs maps "pkgdir.Type.Field" to the field's doc comment, read
// from the sources of the packages the event types are made of.
type fieldDocs map[string]string

func (d fieldDocs) load(t *testing.T, dir string) {
	if _, done := d["dir:"+dir]; done {
		return
	}
	d["dir:"+dir] = ""
	fset := token.NewFileSet()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if !strings.HasSuffix(e.Name(), ".go") || strings.HasSuffix(e.Name(), "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, filepath.Join(dir, e.Name()), nil, parser.ParseComments)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(f, func(n ast.Node) bool {
			ts, ok := n.(*ast.TypeSpec)
			if !ok {
				return true
			}
			st, ok := ts.Type.(*ast.StructType)
			if !ok {
				return true
			}
			var walkStruct func(prefix string, st *ast.StructType)
			walkStruct = func(prefix string, st *ast.StructType) {
				for _, fl := range st.Fields.List {
					doc := strings.TrimSpace(fl.Doc.Text() + " " + fl.Comment.Text())
					for _, name := range fl.Names {
						d[dir+"."+prefix+name.Name] = strings.Join(strings.Fields(doc), " ")
						if inner, ok := fl.Type.(*ast.StructType); ok { // anonymous struct
							walkStruct(prefix+name.Name+".", inner)
						}
					}
				}
			}
			walkStruct(ts.Name.Name+".", st)
			return true
		})
	}
}

// docOf finds the doc comment of the field at path in typ.
func (d fieldDocs) docOf(tb *testing.T, typ reflect.Type, path []string) string {
	chain := typ.Name() + "." // how the loader names typ's fields
	dir := pkgDir(typ.PkgPath())
	for i, name := range path {
		f, ok := jsonField(typ, name)
		if !ok {
			return ""
		}
		if f.owner.PkgPath() != "" { // an anonymous struct has none: its owner's
			dir = pkgDir(f.owner.PkgPath())
		}
		d.load(tb, dir)
		key := chain + f.sf.Name
		if f.owner != typ { // a field of an embedded struct
			key = f.owner.Name() + "." + f.sf.Name
		}
		if i == len(path)-1 {
			return d[dir+"."+key]
		}
		ft := f.sf.Type
		for ft.Kind() == reflect.Pointer || ft.Kind() == reflect.Slice {
			ft = ft.Elem()
		}
		typ = ft
		if ft.Name() == "" { // an anonymous struct: its fields are named after it
			chain = key + "."
		} else {
			chain = ft.Name() + "."
		}
	}
	return ""
}

type found struct {
	sf    reflect.StructField
	owner reflect.Type
}

// jsonField finds the field of t (embedded structs included) named name in JSON.
func jsonField(t reflect.Type, name string) (found, bool) {
	for i := 0; i < t.NumField(); i++ {
		sf := t.Field(i)
		tag, _, _ := strings.Cut(sf.Tag.Get("json"), ",")
		ft := sf.Type
		for ft.Kind() == reflect.Pointer {
			ft = ft.Elem()
		}
		if sf.Anonymous && tag == "" && ft.Kind() == reflect.Struct {
			if f, ok := jsonField(ft, name); ok {
				return f, true
			}
			continue
		}
		if tag == name || tag == "" && sf.Name == name {
			return found{sf, t}, true
		}
	}
	return found{}, false
}

// pkgDir is the source directory of an import path of this module.
func pkgDir(importPath string) string {
	const mod = "github.com/edgesensor/edgesensor/"
	return filepath.Join("../../..", strings.TrimPrefix(importPath, mod))
}

func jsonType(t reflect.Type) string {
	switch {
	case t == timeType:
		return "date"
	case t.Kind() == reflect.Slice:
		return "array of " + jsonType(t.Elem())
	case t.Kind() == reflect.Pointer:
		return jsonType(t.Elem())
	case t.Kind() == reflect.String:
		return "string"
	case t.Kind() == reflect.Bool:
		return "boolean"
	case t.Kind() == reflect.Struct:
		return "object"
	default:
		return "number"
	}
}

func schemaMarkdown(t *testing.T) []byte {
	docs := fieldDocs{}
	var b bytes.Buffer
	b.WriteString("# Event schema\n\n")
	b.WriteString("Generated from the event types (`userspace/export/events`) by\n`UPDATE_SCHEMA=1 go test ./userspace/export/events`; a test keeps it current.\n")
	b.WriteString("Every event is one JSON object per line, in Elastic Common Schema names;\n")
	b.WriteString("what ECS has no name for is under `edgesensor`. A field is left out when\nit has no value, unless said otherwise. `source` is always the client.\n")
	for _, ds := range slices.Sorted(maps.Keys(Types)) {
		typ := reflect.TypeOf(Types[ds]()).Elem()
		fmt.Fprintf(&b, "\n## %s\n\n| field | type | description |\n|---|---|---|\n", ds)
		walk(typ, "", func(path string, ft reflect.Type) {
			doc := docs.docOf(t, typ, strings.Split(path, "."))
			doc = strings.ReplaceAll(doc, "|", "\\|")
			fmt.Fprintf(&b, "| `%s` | %s | %s |\n", path, jsonType(ft), doc)
		})
	}
	return b.Bytes()
}
