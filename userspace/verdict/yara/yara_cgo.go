//go:build yara

package yara

/*
#cgo LDFLAGS: -lyara
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <yara.h>

extern void goCompilerError(int level, char *file, int line, char *msg, uintptr_t handle);
extern void goMatch(char *rule, char *ns, uintptr_t handle);
extern void goTag(char *tag, uintptr_t handle);
extern void goLevel(int64_t level, uintptr_t handle);

static void compiler_cb(int level, const char *file, int line, const YR_RULE *rule, const char *msg, void *data) {
	goCompilerError(level, (char *)(file ? file : ""), line, (char *)msg, (uintptr_t)data);
}

static void set_compiler_cb(YR_COMPILER *c, uintptr_t handle) {
	yr_compiler_set_callback(c, compiler_cb, (void *)handle);
}

static int scan_cb(YR_SCAN_CONTEXT *ctx, int message, void *message_data, void *data) {
	if (message != CALLBACK_MSG_RULE_MATCHING)
		return CALLBACK_CONTINUE;
	YR_RULE *rule = (YR_RULE *)message_data;
	uintptr_t h = (uintptr_t)data;
	goMatch((char *)rule->identifier, (char *)rule->ns->name, h);
	const char *tag;
	yr_rule_tags_foreach(rule, tag) { goTag((char *)tag, h); }
	YR_META *meta;
	yr_rule_metas_foreach(rule, meta) {
		if (meta->type == META_TYPE_INTEGER &&
		    (strcmp(meta->identifier, "threat_level") == 0 || strcmp(meta->identifier, "score") == 0))
			goLevel(meta->integer, h);
	}
	return CALLBACK_CONTINUE;
}

static int scan_file(YR_RULES *rules, const char *path, int timeout, uintptr_t handle) {
	return yr_rules_scan_file(rules, path, SCAN_FLAGS_FAST_MODE, scan_cb, (void *)handle, timeout);
}
*/
import "C"

import (
	"errors"
	"fmt"
	"path/filepath"
	"runtime/cgo"
	"strings"
	"sync"
	"time"
	"unsafe"
)

var initOnce sync.Once
var initErr error

func initialize() error {
	initOnce.Do(func() {
		if rc := C.yr_initialize(); rc != C.ERROR_SUCCESS {
			initErr = fmt.Errorf("yr_initialize: error %d", int(rc))
		}
	})
	return initErr
}

// Available reports whether this binary can match YARA rules.
func Available() bool { return true }

// Rules is a compiled set of rules, safe for concurrent scans.
type Rules struct {
	r *C.YR_RULES
}

type compileErrs struct{ msgs []string }

//export goCompilerError
func goCompilerError(level C.int, file *C.char, line C.int, msg *C.char, h C.uintptr_t) {
	e := cgo.Handle(h).Value().(*compileErrs)
	kind := "error"
	if level == C.YARA_ERROR_LEVEL_WARNING {
		kind = "warning"
	}
	e.msgs = append(e.msgs, fmt.Sprintf("line %d: %s: %s", int(line), kind, C.GoString(msg)))
}

// Compile compiles the rules files; an error names the file and line.
// Each file is its own namespace (its base name).
func Compile(paths []string) (*Rules, error) {
	if err := initialize(); err != nil {
		return nil, err
	}
	var c *C.YR_COMPILER
	if rc := C.yr_compiler_create(&c); rc != C.ERROR_SUCCESS {
		return nil, fmt.Errorf("yr_compiler_create: error %d", int(rc))
	}
	defer C.yr_compiler_destroy(c)
	errs := &compileErrs{}
	h := cgo.NewHandle(errs)
	defer h.Delete()
	C.set_compiler_cb(c, C.uintptr_t(h))
	for _, p := range paths {
		text, err := readRules(p)
		if err != nil {
			return nil, fmt.Errorf("yara rules: %w", err)
		}
		src := C.CString(string(text))
		ns := C.CString(strings.TrimSuffix(filepath.Base(p), filepath.Ext(p)))
		errs.msgs = errs.msgs[:0]
		n := C.yr_compiler_add_string(c, src, ns)
		C.free(unsafe.Pointer(src))
		C.free(unsafe.Pointer(ns))
		if n > 0 {
			var only []string
			for _, m := range errs.msgs {
				if !strings.Contains(m, ": warning: ") {
					only = append(only, m)
				}
			}
			return nil, fmt.Errorf("yara rules %s: %s", p, strings.Join(only, "; "))
		}
	}
	var r *C.YR_RULES
	if rc := C.yr_compiler_get_rules(c, &r); rc != C.ERROR_SUCCESS {
		return nil, fmt.Errorf("yr_compiler_get_rules: error %d", int(rc))
	}
	return &Rules{r: r}, nil
}

type scanState struct {
	matches []Match
}

//export goMatch
func goMatch(rule, ns *C.char, h C.uintptr_t) {
	s := cgo.Handle(h).Value().(*scanState)
	if len(s.matches) < maxMatches {
		s.matches = append(s.matches, Match{Rule: C.GoString(rule), Namespace: C.GoString(ns)})
	}
}

//export goTag
func goTag(tag *C.char, h C.uintptr_t) {
	s := cgo.Handle(h).Value().(*scanState)
	if n := len(s.matches); n > 0 && len(s.matches[n-1].Tags) < 16 {
		s.matches[n-1].Tags = append(s.matches[n-1].Tags, C.GoString(tag))
	}
}

//export goLevel
func goLevel(level C.int64_t, h C.uintptr_t) {
	s := cgo.Handle(h).Value().(*scanState)
	if n := len(s.matches); n > 0 {
		s.matches[n-1].Level = int(max(0, min(10, int64(level))))
	}
}

// maxMatches bounds the matches one scan reports.
const maxMatches = 64

// ScanFile matches the rules against a file, within timeout.
func (r *Rules) ScanFile(path string, timeout time.Duration) ([]Match, error) {
	if r == nil || r.r == nil {
		return nil, errors.New("yara: no rules")
	}
	st := &scanState{}
	h := cgo.NewHandle(st)
	defer h.Delete()
	cp := C.CString(path)
	defer C.free(unsafe.Pointer(cp))
	secs := max(1, int(timeout/time.Second))
	if rc := C.scan_file(r.r, cp, C.int(secs), C.uintptr_t(h)); rc != C.ERROR_SUCCESS {
		if rc == C.ERROR_SCAN_TIMEOUT {
			return st.matches, fmt.Errorf("yara scan of %s: timed out after %ds", path, secs)
		}
		return st.matches, fmt.Errorf("yara scan of %s: error %d", path, int(rc))
	}
	return st.matches, nil
}

// Close frees the rules.
func (r *Rules) Close() {
	if r != nil && r.r != nil {
		C.yr_rules_destroy(r.r)
		r.r = nil
	}
}
