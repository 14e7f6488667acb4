package httpx

import (
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/edgesensor/edgesensor/userspace/files/transfer"
)

// Add must sum every counter, including ones added later.
func TestStatsAdd(t *testing.T) {
	var a, b Stats
	var fill func(v reflect.Value)
	fill = func(v reflect.Value) {
		for i := 0; i < v.NumField(); i++ {
			switch f := v.Field(i); f.Kind() {
			case reflect.Uint64:
				f.SetUint(uint64(i + 1))
			case reflect.Struct:
				fill(f)
			}
		}
	}
	fill(reflect.ValueOf(&b).Elem())
	a.Add(&b)
	a.Add(&b)
	var check func(x, y reflect.Value, path string)
	check = func(x, y reflect.Value, path string) {
		for i := 0; i < x.NumField(); i++ {
			name := path + x.Type().Field(i).Name
			switch f := x.Field(i); f.Kind() {
			case reflect.Uint64:
				if f.Uint() != 2*y.Field(i).Uint() {
					t.Errorf("%s not added", name)
				}
			case reflect.Struct:
				check(f, y.Field(i), name+".")
			}
		}
	}
	check(reflect.ValueOf(a), reflect.ValueOf(b), "")
}

func TestNowStampsTime(t *testing.T) {
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	s := &recSink{keep: 10}
	conn(t, Options{Now: func() time.Time { return at }}, s, get("/t"), ok200("x"), 0)
	if f := file(t, s, "t"); !f.meta.Time.Equal(at) {
		t.Errorf("time %v", f.meta.Time)
	}
	s = &recSink{keep: 10}
	conn(t, Options{}, s, get("/t"), ok200("x"), 0)
	if f := file(t, s, "t"); !f.meta.Time.IsZero() {
		t.Errorf("time %v without a clock", f.meta.Time)
	}
}

// A gap inside a form-data part cuts that part; the splitter finds the
// next delimiter and the next part comes out whole.
func TestMultipartGap(t *testing.T) {
	one, two := testBody(4000, 20), testBody(3000, 21)
	body := "--B\r\nContent-Disposition: form-data; name=a; filename=one.exe\r\n\r\n" + one +
		"\r\n--B\r\nContent-Disposition: form-data; name=b; filename=two.exe\r\n\r\n" + two + "\r\n--B--\r\n"
	req := msg("POST /u HTTP/1.1", body, "Content-Type: multipart/form-data; boundary=B", fmt.Sprintf("Content-Length: %d", len(body)))
	head := len(req) - len(body)
	s := &recSink{keep: 1 << 20}
	p := New(s, Options{Uploads: true}, nil)
	p.Data(true, []byte(req[:head+200]))
	p.Gap(true, 100)
	p.Data(true, []byte(req[head+300:]))
	p.Data(false, []byte(ok200("")))
	p.Close()
	if f := file(t, s, "one.exe"); f.cut != transfer.CutGap {
		t.Errorf("one.exe: cut %q", f.cut)
	}
	whole(t, s, "two.exe", two)
	if err := s.check(); err != nil {
		t.Fatal(err)
	}
}

// Requests past MaxPipelined are counted; the responses still pair in
// order with the ones kept.
func TestPipelineOverflow(t *testing.T) {
	var client, server string
	for i := range 6 {
		client += get(fmt.Sprintf("/f%d", i))
		server += ok200(fmt.Sprint(i))
	}
	s := &recSink{keep: 10}
	p, _ := conn(t, Options{MaxPipelined: 4}, s, client, server, 0)
	for i := range 4 {
		whole(t, s, fmt.Sprintf("f%d", i), fmt.Sprint(i))
	}
	if len(s.files) != 6 || p.stats.PipelineOverflow != 2 || p.stats.Unpaired != 2 {
		t.Errorf("%d files, stats %+v", len(s.files), *p.stats)
	}
}
