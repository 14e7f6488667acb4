package uplink

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/edgesensor/edgesensor/userspace/export/cloudapi"
)

// The cache answers what the cloud answered, known or not, until its
// TTL (shorter for unknown), within its size (oldest out first); errors
// and timeouts are not cached; concurrent lookups of one hash ask once.
func TestCache(t *testing.T) {
	var asked atomic.Int64
	var mu sync.Mutex
	known := map[string]int{"bad": 9}
	ask := func(ctx context.Context, sha string) (cloudapi.LookupResult, error) {
		asked.Add(1)
		if sha == "slow" {
			<-ctx.Done()
			return cloudapi.LookupResult{}, ctx.Err()
		}
		if sha == "gate" {
			time.Sleep(50 * time.Millisecond)
		}
		mu.Lock()
		defer mu.Unlock()
		if s, ok := known[sha]; ok {
			return cloudapi.LookupResult{SHA256: sha, Known: true, Score: s, Verdict: cloudapi.VerdictMalicious}, nil
		}
		return cloudapi.LookupResult{SHA256: sha, Verdict: cloudapi.VerdictUnknown}, nil
	}
	now := time.Unix(1000, 0)
	c := NewCache(3, time.Hour, time.Minute, 30*time.Millisecond)
	c.now = func() time.Time { return now }
	ctx := context.Background()
	look := func(sha string) (cloudapi.LookupResult, bool) {
		t.Helper()
		r, hit, err := c.Lookup(ctx, sha, ask)
		if err != nil {
			t.Fatalf("%s: %v", sha, err)
		}
		return r, hit
	}
	if r, hit := look("bad"); hit || !r.Known || r.Score != 9 {
		t.Fatalf("first: %+v hit %v", r, hit)
	}
	if r, hit := look("bad"); !hit || r.Score != 9 {
		t.Fatalf("second: %+v hit %v", r, hit)
	}
	if _, hit := look("new"); hit {
		t.Fatal("unknown: a hit the first time")
	}
	if _, hit := look("new"); !hit {
		t.Fatal("unknown: not cached")
	}
	// Unknown answers lapse first: the cloud may learn the file.
	now = now.Add(2 * time.Minute)
	mu.Lock()
	known["new"] = 8
	mu.Unlock()
	if r, hit := look("new"); hit || r.Score != 8 {
		t.Errorf("after the unknown TTL: %+v hit %v", r, hit)
	}
	if _, hit := look("bad"); !hit {
		t.Error("a known answer lapsed with the unknown TTL")
	}
	// A timeout is an error, counted, not cached.
	if _, _, err := c.Lookup(ctx, "slow", ask); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("slow: %v", err)
	}
	if c.Stats().Errors.Load() != 1 || c.Len() != 2 {
		t.Errorf("errors %d, len %d", c.Stats().Errors.Load(), c.Len())
	}
	// Bounded: the least recently used goes.
	for i := range 3 {
		look(fmt.Sprint("f", i))
	}
	if c.Len() != 3 || c.Stats().Evicted.Load() != 2 {
		t.Errorf("len %d evicted %d", c.Len(), c.Stats().Evicted.Load())
	}
	// Concurrent lookups of one hash: one question.
	before := asked.Load()
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.Lookup(ctx, "gate", ask)
		}()
	}
	wg.Wait()
	if n := asked.Load() - before; n != 1 {
		t.Errorf("8 concurrent lookups asked %d times", n)
	}
}
