package main

import (
	"bufio"
	"crypto/ed25519"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/edgesensor/edgesensor/userspace/export/cloudapi"
	"github.com/edgesensor/edgesensor/userspace/verdict/feed"
)

// Feed parameters of the reference cloud.
const (
	feedMinScore  = 4                // verdicts from this score on enter the feed
	feedMaxDeltas = 1000             // deltas kept; a sensor further behind gets the snapshot
	feedTTL       = 24 * time.Hour   // a message is refused this long after it was issued
	feedMaxWait   = 30 * time.Second // the longest a poll waits for news
)

// publisher is the cloud's signed intelligence feed: every verdict it
// reaches at or above feedMinScore (from --verdicts, and from samples
// sensors upload) as a SHA-256 entry, in snapshots and one-step deltas.
type publisher struct {
	priv ed25519.PrivateKey
	now  func() time.Time

	mu      sync.Mutex
	version uint64
	entries map[feed.Key]feed.Entry
	deltas  []signed // the last of them at version
	first   uint64   // the version of deltas[0]
	snap    signed   // the snapshot at version, or none until asked
	changed chan struct{}
}

// signed is a signed message and when it was issued.
type signed struct {
	raw    []byte
	issued time.Time
}

// fresh says whether m has most of its life ahead at now: older ones are
// not sent (a sensor would refuse them once expired, or soon after).
func (m signed) fresh(now time.Time) bool { return m.raw != nil && now.Sub(m.issued) < feedTTL/2 }

func newPublisher(priv ed25519.PrivateKey, known map[string]int, extra []feed.Entry) *publisher {
	// The feed lives in memory: a restarted cloud starts from the clock
	// (milliseconds: a version stays exact as a float in a metric), above
	// any version it published before unless it published more than a
	// thousand a second, so that sensors take its snapshot (they refuse
	// one older than what they have).
	p := &publisher{priv: priv, now: time.Now, version: uint64(time.Now().UnixMilli()), entries: map[feed.Key]feed.Entry{}, changed: make(chan struct{})}
	for sha, score := range known {
		if score >= feedMinScore {
			e := shaEntry(sha, score)
			p.entries[e.Key] = e
		}
	}
	for _, e := range extra {
		p.entries[e.Key] = e
	}
	return p
}

// readFeedEntries reads --feed-entries: "kind value level|allow [source]"
// per line (# comments), published in the feed from the start.
func readFeedEntries(path string) ([]feed.Entry, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []feed.Entry
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		l := strings.Fields(sc.Text())
		if len(l) == 0 || strings.HasPrefix(l[0], "#") {
			continue
		}
		if len(l) < 3 || len(l) > 4 {
			return nil, fmt.Errorf("%s:%d: want kind value level|allow [source]", path, n)
		}
		e := feed.Entry{Key: feed.Key{Kind: l[0], Value: l[1]}, Source: "edgecloud"}
		if l[2] == "allow" {
			e.Allow = true
		} else if _, err := fmt.Sscan(l[2], &e.Level); err != nil || e.Level < 0 || e.Level > 10 {
			return nil, fmt.Errorf("%s:%d: level %q is not 0..10", path, n, l[2])
		}
		if len(l) == 4 {
			e.Source = l[3]
		}
		out = append(out, e)
	}
	return out, sc.Err()
}

func shaEntry(sha string, score int) feed.Entry {
	return feed.Entry{Key: feed.Key{Kind: "sha256", Value: sha}, Level: min(score, 10), Source: "edgecloud"}
}

// add publishes a verdict: a delta when it changes the feed.
func (p *publisher) add(sha string, score int) error {
	if score < feedMinScore {
		return nil
	}
	e := shaEntry(sha, score)
	p.mu.Lock()
	defer p.mu.Unlock()
	if old, ok := p.entries[e.Key]; ok && old == e {
		return nil
	}
	now := p.now()
	m := &feed.Message{Header: feed.Header{Kind: feed.KindDelta, Base: p.version, Version: p.version + 1,
		Issued: now, Expires: now.Add(feedTTL)}, Add: []feed.Entry{e}}
	raw, err := feed.Sign(p.priv, m)
	if err != nil {
		return err
	}
	if len(p.deltas) == 0 {
		p.first = m.Version
	}
	p.deltas = append(p.deltas, signed{raw, now})
	if len(p.deltas) > feedMaxDeltas {
		p.deltas = p.deltas[1:]
		p.first++
	}
	p.entries[e.Key] = e
	p.version, p.snap = m.Version, signed{}
	close(p.changed)
	p.changed = make(chan struct{})
	return nil
}

// since is what a sensor at version have needs: nothing (it is current),
// the deltas after it, or the snapshot; and the version they bring it to.
func (p *publisher) since(have uint64) ([][]byte, uint64, <-chan struct{}, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := p.now()
	switch {
	case have == p.version:
		return nil, p.version, p.changed, nil
	case have < p.version && len(p.deltas) > 0 && have+1 >= p.first && p.deltas[have+1-p.first].fresh(now):
		var out [][]byte
		for _, d := range p.deltas[have+1-p.first:] {
			out = append(out, d.raw)
		}
		return out, p.version, p.changed, nil
	}
	// A sensor further behind, or whose deltas are getting old: the
	// snapshot, signed again when it is.
	if !p.snap.fresh(now) {
		m := &feed.Message{Header: feed.Header{Kind: feed.KindSnapshot, Version: p.version, Issued: now, Expires: now.Add(feedTTL)}}
		m.Add = make([]feed.Entry, 0, len(p.entries))
		for _, e := range p.entries {
			m.Add = append(m.Add, e)
		}
		raw, err := feed.Sign(p.priv, m)
		if err != nil {
			return nil, 0, nil, err
		}
		p.snap = signed{raw, now}
	}
	return [][]byte{p.snap.raw}, p.version, p.changed, nil
}

// handleFeed answers GET /v1/feed?have=N[&wait=D]: the messages that
// bring a sensor at version N to the current one, as frames; when it is
// current, the answer waits up to D (at most feedMaxWait) for a change,
// then is empty.
func (s *server) handleFeed(w http.ResponseWriter, r *http.Request) {
	if s.feed == nil {
		s.fail(w, http.StatusNotFound, "no feed: edgecloud runs without --feed-key")
		return
	}
	q := r.URL.Query()
	var have uint64
	var err error
	if v := q.Get("have"); v != "" {
		if have, err = strconv.ParseUint(v, 10, 64); err != nil {
			s.fail(w, http.StatusBadRequest, "have: want a non-negative integer")
			return
		}
	}
	var wait time.Duration
	if v := q.Get("wait"); v != "" {
		if wait, err = time.ParseDuration(v); err != nil || wait < 0 {
			s.fail(w, http.StatusBadRequest, "wait: want a duration such as 25s")
			return
		}
	}
	wait = min(wait, feedMaxWait)
	deadline := time.After(wait)
	for {
		msgs, version, changed, err := s.feed.since(have)
		if err != nil {
			s.fail(w, http.StatusInternalServerError, "feed: %v", err)
			return
		}
		if len(msgs) > 0 || wait == 0 {
			s.st.feedPolls.Add(1)
			w.Header().Set("Content-Type", cloudapi.FeedContentType)
			w.Header().Set(cloudapi.HeaderFeedVersion, strconv.FormatUint(version, 10))
			w.WriteHeader(http.StatusOK)
			cloudapi.WriteFeedFrames(w, msgs)
			return
		}
		select {
		case <-changed:
		case <-deadline:
			wait = 0
		case <-r.Context().Done():
			return
		}
	}
}
