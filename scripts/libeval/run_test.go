package libeval

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"
	"time"
)

// result is what one run of a parser on one input cost.
type result struct {
	Returned bool
	Panic    string
	Time     time.Duration
	Alloc    uint64 // bytes allocated
	Note     string // what it found, for the report
}

func (r result) String() string {
	switch {
	case !r.Returned:
		return "did not return"
	case r.Panic != "":
		return "panic: " + r.Panic
	}
	return fmt.Sprintf("%v, %s", r.Time.Round(time.Microsecond), mb(r.Alloc))
}

func mb(n uint64) string {
	if n < 1<<20 {
		return fmt.Sprintf("%d KB", n>>10)
	}
	return fmt.Sprintf("%.1f MB", float64(n)/(1<<20))
}

// run measures f in this process.
func run(f func() string) (r result) {
	var m0, m1 runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&m0)
	start := time.Now()
	defer func() {
		r.Time = time.Since(start)
		runtime.ReadMemStats(&m1)
		r.Alloc = m1.TotalAlloc - m0.TotalAlloc
		r.Returned = true
		if p := recover(); p != nil {
			r.Panic = fmt.Sprint(p)
		}
	}()
	r.Note = f()
	return r
}

const childEnv = "LIBEVAL_CHILD"

// isolated measures f in a child process (this test binary, re-run for
// the one case) that is killed after limit: a parser that never returns
// costs the limit, not the rest of the run. test names the test, name
// the case within it.
func isolated(t *testing.T, name string, limit time.Duration, f func() string) result {
	t.Helper()
	key := t.Name() + "/" + name
	switch os.Getenv(childEnv) {
	case key:
		json.NewEncoder(os.Stdout).Encode(run(f))
		os.Exit(0)
	case "":
	default:
		return result{} // a child for another case
	}
	cmd := exec.Command(os.Args[0], "-test.run=^"+strings.Split(t.Name(), "/")[0]+"$", "-test.count=1")
	cmd.Env = append(os.Environ(), childEnv+"="+key)
	out, _ := startAndWait(cmd, limit)
	var r result
	for _, line := range strings.Split(string(out), "\n") {
		if strings.HasPrefix(line, "{") && json.Unmarshal([]byte(line), &r) == nil {
			return r
		}
	}
	return result{Time: limit}
}

func startAndWait(cmd *exec.Cmd, limit time.Duration) ([]byte, error) {
	var buf strings.Builder
	cmd.Stdout = &buf
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		return []byte(buf.String()), err
	case <-time.After(limit):
		cmd.Process.Kill()
		<-done
		return []byte(buf.String()), fmt.Errorf("killed after %v", limit)
	}
}

func fixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile("../../userspace/files/filetype/testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
