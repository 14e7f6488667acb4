package daemon

import (
	"context"
	"errors"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"github.com/edgesensor/edgesensor/userspace/config"
	"github.com/edgesensor/edgesensor/userspace/export/uplink"
	"github.com/edgesensor/edgesensor/userspace/verdict/feed"
	"github.com/edgesensor/edgesensor/userspace/verdict/intel"
)

// feedWait is how long one poll of the feed waits for news: the cloud
// answers at once when something changes.
const feedWait = 25 * time.Second

// maxKeptDeltas bounds the deltas kept in feed_dir after the snapshot:
// past it the next poll asks for the snapshot, which replaces them.
const maxKeptDeltas = 1000

// feedRunner keeps the cloud's intel feed in force: restored from disk
// at start (so the sensor works offline with its last good feed), then
// polled over the uplink for as long as a connection runs. Every message
// is verified before it touches the intel (package feed); a refused one
// is logged and counted, and the last good feed stays.
type feedRunner struct {
	f   *feed.Feed
	log zerolog.Logger

	stats    feedStats
	applyDur latencies // how long taking a message took (verify, parse, apply, keep)
	errMu    sync.Mutex
	lastErr  string
	// pause is the first wait after a failed poll (doubling to a minute).
	pause time.Duration
	// maxKept is maxKeptDeltas (tests set less).
	maxKept int
	// change is signalled (without blocking) after each message taken
	// or entries lapsed: enforcement puts the feed's lists in force.
	change chan struct{}
}

type feedStats struct {
	Polls      atomic.Uint64
	PollErrors atomic.Uint64 // polls that failed (the cloud unreachable or refusing)
	Applied    atomic.Uint64
	Refused    [5]atomic.Uint64 // by refusal reason
	NotKept    atomic.Uint64    // in force but not written to feed_dir
	Expired    atomic.Uint64    // entries taken off at their expiry
}

// Why a message was refused, as the metric labels it.
var refusals = [...]string{"signature", "malformed", "expired", "version", "other"}

func refusal(err error) int {
	for i, e := range []error{feed.ErrSignature, feed.ErrMalformed, feed.ErrExpired, feed.ErrVersion} {
		if errors.Is(err, e) {
			return i
		}
	}
	return len(refusals) - 1
}

// newFeedRunner loads the pinned key and restores the feed kept in
// feed_dir; nil without a feed. A kept feed that does not verify is
// logged, and whatever verified of it stays in force.
func newFeedRunner(cfg *config.Config, log zerolog.Logger) (*feedRunner, error) {
	if !cfg.Uplink.Feed() {
		return nil, nil
	}
	pub, err := feed.LoadPublicKey(cfg.Uplink.FeedKeyFile)
	if err != nil {
		return nil, err
	}
	r := &feedRunner{log: log, pause: time.Second, maxKept: maxKeptDeltas, change: make(chan struct{}, 1), f: &feed.Feed{Layer: intel.NewLayer(), Pub: pub, Store: &feed.Store{Dir: cfg.Uplink.FeedDir}}}
	start := time.Now()
	if err := r.f.Restore(); err != nil {
		log.Error().Err(err).Msg("feed: the kept feed did not all verify; what did is in force")
	}
	if v := r.f.Version(); v != 0 {
		log.Info().Uint64("version", v).Int("entries", r.f.Layer.Len()).Dur("age", r.f.Age(time.Now()).Round(time.Second)).
			Dur("took", time.Since(start)).Msg("feed: the last good feed restored from disk")
	}
	return r, nil
}

// layer is the feed's intel, or nil.
func (r *feedRunner) layer() *intel.Layer {
	if r == nil {
		return nil
	}
	return r.f.Layer
}

// poll takes the feed from the cloud through client until ctx ends. A
// poll that fails, or an answer with a refused message, is retried
// after a pause (from 1 s, doubling to a minute, with jitter).
func (r *feedRunner) poll(ctx context.Context, client *uplink.Client) {
	fails := 0
	resync := false
	for ctx.Err() == nil {
		r.stats.Polls.Add(1)
		have := r.f.Version()
		if resync || r.f.KeptDeltas() >= r.maxKept {
			// The cloud's snapshot: to replace the kept deltas, or after
			// a delta refused as expired or out of turn (asking from the
			// same version would get the same delta again).
			have = 0
		}
		start, took := time.Now(), 0
		err := client.Feed(ctx, have, feedWait, func(raw []byte) error {
			took++
			return r.take(raw)
		})
		if ctx.Err() != nil {
			return
		}
		if err == nil {
			fails, resync = 0, false
			r.logOnce("")
			if took == 0 {
				// An answer with no news before the wait: not a loop.
				if d := time.Second - time.Since(start); d > 0 {
					sleepCtx(ctx, d)
				}
			}
			continue
		}
		var ref refused
		if errors.As(err, &ref) {
			resync = errors.Is(err, feed.ErrExpired) || errors.Is(err, feed.ErrVersion)
		} else {
			r.stats.PollErrors.Add(1)
		}
		r.logOnce(err.Error())
		fails++
		d := min(r.pause<<min(fails-1, 6), time.Minute)
		select {
		case <-ctx.Done():
			return
		case <-time.After(d/2 + rand.N(d/2+1)):
		}
	}
}

// refused is a message the feed did not take.
type refused struct{ err error }

func (e refused) Error() string { return e.err.Error() }
func (e refused) Unwrap() error { return e.err }

// take puts one message of a poll's answer in force.
func (r *feedRunner) take(raw []byte) error {
	start := time.Now()
	h, err := r.f.Accept(raw, start)
	switch {
	case errors.Is(err, feed.ErrNotKept):
		r.stats.NotKept.Add(1)
		r.log.Error().Err(err).Msg("feed: a message in force could not be kept on disk (uplink.feed_dir)")
	case err != nil:
		r.stats.Refused[refusal(err)].Add(1)
		r.log.Error().Err(err).Int("bytes", len(raw)).Uint64("have", r.f.Version()).Msg("feed: message refused; the last good feed stays")
		return refused{err}
	}
	took := time.Since(start)
	r.signal()
	r.applyDur.add(took)
	r.stats.Applied.Add(1)
	adds, removes := h.Adds, h.Removes
	ev := r.log.Debug()
	if h.Kind == feed.KindSnapshot {
		ev = r.log.Info()
	}
	ev.Str("kind", h.Kind).Uint64("version", h.Version).Int("added", adds).Int("removed", removes).
		Int("entries", r.f.Layer.Len()).Dur("took", took).Msg("feed: in force")
	return nil
}

// logOnce logs a poll's failure once while it repeats ("" clears it).
func (r *feedRunner) logOnce(msg string) {
	r.errMu.Lock()
	defer r.errMu.Unlock()
	if msg != "" && msg != r.lastErr {
		r.log.Warn().Str("error", msg).Uint64("have", r.f.Version()).Msg("feed: poll failed; the last good feed stays in force, retrying")
	}
	r.lastErr = msg
}

// sweep takes lapsed entries off the feed every second until ctx ends;
// it runs whether or not the cloud can be reached.
func (r *feedRunner) sweep(ctx context.Context) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			if n := r.f.Layer.Expire(now); n > 0 {
				r.stats.Expired.Add(uint64(n))
				r.signal()
			}
		}
	}
}

// changed is signalled when the feed changed; nil (never) without one.
func (r *feedRunner) changed() <-chan struct{} {
	if r == nil {
		return nil
	}
	return r.change
}

func (r *feedRunner) signal() {
	select {
	case r.change <- struct{}{}:
	default:
	}
}

func sleepCtx(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
