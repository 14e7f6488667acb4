package uplink

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"go.etcd.io/bbolt"
)

var (
	bucketRecords = []byte("records") // seq (big-endian uint64) → spooled JSON
	bucketMeta    = []byte("meta")
	keyCursor     = []byte("verdict_cursor")
)

// spooled is a Record as stored on disk, with the time it was spooled (for
// SpoolMaxAge).
type spooled struct {
	ID          string
	Category    string
	Dataset     string
	SHA256      string
	Sample      string
	SampleLimit int64
	Time        int64 // unix nanoseconds
	Body        json.RawMessage
}

// spoolVersion leads every stored value so the format can change later.
const spoolVersion = 1

// encode is a length-prefixed binary form: the spool is written and read
// for every record, and JSON there cost a third of the uplink's CPU.
func (r *spooled) encode() []byte {
	n := 1 + 2*binary.MaxVarintLen64 + 6*binary.MaxVarintLen32 +
		len(r.ID) + len(r.Category) + len(r.Dataset) + len(r.SHA256) + len(r.Sample) + len(r.Body)
	b := make([]byte, 0, n)
	b = append(b, spoolVersion)
	b = binary.AppendVarint(b, r.Time)
	b = binary.AppendVarint(b, r.SampleLimit)
	for _, s := range []string{r.ID, r.Category, r.Dataset, r.SHA256, r.Sample} {
		b = binary.AppendUvarint(b, uint64(len(s)))
		b = append(b, s...)
	}
	b = binary.AppendUvarint(b, uint64(len(r.Body)))
	return append(b, r.Body...)
}

var errCorrupt = errors.New("corrupt spool record")

// decode parses encode's output. b belongs to bbolt and is only valid in
// the transaction, so everything is copied.
func (r *spooled) decode(b []byte) error {
	if len(b) == 0 || b[0] != spoolVersion {
		return errCorrupt
	}
	b = b[1:]
	var n int
	if r.Time, n = binary.Varint(b); n <= 0 {
		return errCorrupt
	}
	b = b[n:]
	if r.SampleLimit, n = binary.Varint(b); n <= 0 {
		return errCorrupt
	}
	b = b[n:]
	field := func() ([]byte, bool) {
		l, n := binary.Uvarint(b)
		if n <= 0 || uint64(len(b)-n) < l {
			return nil, false
		}
		f := b[n : n+int(l)]
		b = b[n+int(l):]
		return f, true
	}
	for _, dst := range []*string{&r.ID, &r.Category, &r.Dataset, &r.SHA256, &r.Sample} {
		f, ok := field()
		if !ok {
			return errCorrupt
		}
		*dst = string(f)
	}
	body, ok := field()
	if !ok || len(b) != 0 {
		return errCorrupt
	}
	r.Body = bytes.Clone(body)
	return nil
}

type entry struct {
	seq  uint64
	size int64 // bytes on disk, what SpoolMaxBytes counts
	rec  spooled
}

// spool is the on-disk queue of records not yet acknowledged by the cloud.
// Keys are a monotonically increasing sequence so a cursor walks them in
// delivery order.
type spool struct {
	db       *bbolt.DB
	maxBytes int64
	maxAge   time.Duration

	wmu   sync.Mutex // serialises writers so count/bytes match the committed state
	mu    sync.Mutex // guards count and bytes for readers
	count int64
	bytes int64
}

func openSpool(path string, maxBytes int64, maxAge time.Duration) (*spool, error) {
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{
		Timeout: 2 * time.Second,
		// The freelist is rebuilt on open instead of written on every
		// commit: each commit here is small, so this halves its writes.
		NoFreelistSync: true,
		FreelistType:   bbolt.FreelistMapType,
	})
	if err != nil {
		return nil, fmt.Errorf("uplink.spool_dir: open %s: %w", path, err)
	}
	s := &spool{db: db, maxBytes: maxBytes, maxAge: maxAge}
	err = db.Update(func(tx *bbolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(bucketRecords)
		if err != nil {
			return err
		}
		if _, err := tx.CreateBucketIfNotExists(bucketMeta); err != nil {
			return err
		}
		// Sizes are not stored separately: one scan at start-up is cheap
		// next to keeping a second index consistent.
		return b.ForEach(func(_, v []byte) error {
			s.count++
			s.bytes += int64(len(v))
			return nil
		})
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("uplink.spool_dir: init %s: %w", path, err)
	}
	return s, nil
}

func (s *spool) close() error { return s.db.Close() }

func (s *spool) stats() (count, bytes int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.count, s.bytes
}

func seqKey(seq uint64) []byte { return binary.BigEndian.AppendUint64(nil, seq) }

// eviction tells which records a bound removed, so the caller can count
// them and delete their samples.
type eviction struct {
	full, age []spooled
}

// append stores recs and deletes the acknowledged records acked in one
// transaction (one fsync), then enforces the bounds, oldest first.
func (s *spool) append(recs []spooled, acked [][]entry, now time.Time) (eviction, error) {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	var ev eviction
	dCount, dBytes := int64(0), int64(0)
	err := s.db.Update(func(tx *bbolt.Tx) error {
		ev, dCount, dBytes = eviction{}, 0, 0
		b := tx.Bucket(bucketRecords)
		for _, batch := range acked {
			if err := s.del(b, batch, &dCount, &dBytes); err != nil {
				return err
			}
		}
		// Keys only ever grow: pack pages full instead of splitting half way.
		b.FillPercent = 0.95
		for i := range recs {
			v := recs[i].encode()
			seq, err := b.NextSequence()
			if err != nil {
				return err
			}
			if err := b.Put(seqKey(seq), v); err != nil {
				return err
			}
			dCount++
			dBytes += int64(len(v))
		}
		var err error
		ev, err = s.evict(b, now, &dCount, &dBytes)
		return err
	})
	if err != nil {
		return eviction{}, fmt.Errorf("spool: %w", err)
	}
	s.apply(dCount, dBytes)
	return ev, nil
}

// expire enforces SpoolMaxAge (and SpoolMaxBytes) without adding records.
func (s *spool) expire(now time.Time) (eviction, error) {
	if s.maxAge <= 0 {
		return eviction{}, nil
	}
	// Cheap check first: most of the time nothing is old enough and no
	// write transaction (fsync) is needed.
	var oldest int64
	err := s.db.View(func(tx *bbolt.Tx) error {
		if _, v := tx.Bucket(bucketRecords).Cursor().First(); v != nil {
			var r spooled
			if err := r.decode(v); err != nil {
				return err
			}
			oldest = r.Time
		}
		return nil
	})
	if err != nil || oldest == 0 || now.Sub(time.Unix(0, oldest)) <= s.maxAge {
		return eviction{}, err
	}
	s.wmu.Lock()
	defer s.wmu.Unlock()
	var ev eviction
	dCount, dBytes := int64(0), int64(0)
	err = s.db.Update(func(tx *bbolt.Tx) error {
		dCount, dBytes = 0, 0
		var err error
		ev, err = s.evict(tx.Bucket(bucketRecords), now, &dCount, &dBytes)
		return err
	})
	if err != nil {
		return eviction{}, fmt.Errorf("spool: %w", err)
	}
	s.apply(dCount, dBytes)
	return ev, nil
}

// evict deletes the oldest records while the spool is over its bounds.
// Called within a write transaction with s.wmu held; dCount/dBytes carry
// the transaction's changes so far.
func (s *spool) evict(b *bbolt.Bucket, now time.Time, dCount, dBytes *int64) (eviction, error) {
	var ev eviction
	s.mu.Lock()
	bytes := s.bytes
	s.mu.Unlock()
	c := b.Cursor()
	for k, v := c.First(); k != nil; k, v = c.First() {
		over := s.maxBytes > 0 && bytes+*dBytes > s.maxBytes
		var r spooled
		if err := r.decode(v); err != nil {
			return ev, fmt.Errorf("decode record %x: %w", k, err)
		}
		old := s.maxAge > 0 && now.Sub(time.Unix(0, r.Time)) > s.maxAge
		if !over && !old {
			break
		}
		size := int64(len(v))
		if err := c.Delete(); err != nil {
			return ev, err
		}
		*dCount--
		*dBytes -= size
		if old {
			ev.age = append(ev.age, r)
		} else {
			ev.full = append(ev.full, r)
		}
	}
	return ev, nil
}

func (s *spool) apply(dCount, dBytes int64) {
	s.mu.Lock()
	s.count += dCount
	s.bytes += dBytes
	s.mu.Unlock()
}

// oldest returns the spool time of the first record with a sequence of at
// least from, zero if there is none.
func (s *spool) oldest(from uint64) (time.Time, error) {
	var t time.Time
	err := s.db.View(func(tx *bbolt.Tx) error {
		if _, v := tx.Bucket(bucketRecords).Cursor().Seek(seqKey(from)); v != nil {
			var r spooled
			if err := r.decode(v); err != nil {
				return err
			}
			t = time.Unix(0, r.Time)
		}
		return nil
	})
	return t, err
}

// read returns up to max records in delivery order, starting at sequence
// from.
func (s *spool) read(from uint64, max int) ([]entry, error) {
	var out []entry
	err := s.db.View(func(tx *bbolt.Tx) error {
		c := tx.Bucket(bucketRecords).Cursor()
		for k, v := c.Seek(seqKey(from)); k != nil && len(out) < max; k, v = c.Next() {
			e := entry{seq: binary.BigEndian.Uint64(k), size: int64(len(v))}
			if err := e.rec.decode(v); err != nil {
				return fmt.Errorf("decode record %x: %w", k, err)
			}
			out = append(out, e)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("spool: %w", err)
	}
	return out, nil
}

// remove deletes records now, in a transaction of its own.
func (s *spool) remove(batch []entry) error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	dCount, dBytes := int64(0), int64(0)
	err := s.db.Update(func(tx *bbolt.Tx) error {
		dCount, dBytes = 0, 0
		return s.del(tx.Bucket(bucketRecords), batch, &dCount, &dBytes)
	})
	if err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	s.apply(dCount, dBytes)
	return nil
}

// del deletes the batch's records. Records a bound evicted meanwhile are
// already gone and not counted twice.
func (s *spool) del(b *bbolt.Bucket, batch []entry, dCount, dBytes *int64) error {
	for _, e := range batch {
		k := seqKey(e.seq)
		v := b.Get(k)
		if v == nil {
			continue
		}
		size := int64(len(v))
		if err := b.Delete(k); err != nil {
			return err
		}
		*dCount--
		*dBytes -= size
	}
	return nil
}

func (s *spool) cursor() (uint64, error) {
	var cur uint64
	err := s.db.View(func(tx *bbolt.Tx) error {
		if v := tx.Bucket(bucketMeta).Get(keyCursor); len(v) == 8 {
			cur = binary.BigEndian.Uint64(v)
		}
		return nil
	})
	return cur, err
}

func (s *spool) setCursor(cur uint64) error {
	return s.db.Update(func(tx *bbolt.Tx) error {
		return tx.Bucket(bucketMeta).Put(keyCursor, seqKey(cur))
	})
}

// Purge deletes every record waiting in the spool under dir, and their
// samples, and returns how many records it deleted. The sensor calls it,
// with no Client open on dir, when the privacy settings the records were
// anonymised under are replaced: nothing leaves under a policy no longer
// in force.
func Purge(dir string) (int, error) {
	path := filepath.Join(dir, "spool.db")
	if _, err := os.Stat(path); os.IsNotExist(err) {
		return 0, nil
	}
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{Timeout: 2 * time.Second})
	if err != nil {
		return 0, fmt.Errorf("uplink.spool_dir: open %s: %w", path, err)
	}
	defer db.Close()
	n := 0
	err = db.Update(func(tx *bbolt.Tx) error {
		b := tx.Bucket(bucketRecords)
		if b == nil {
			return nil
		}
		n = b.Stats().KeyN
		seq := b.Sequence()
		if err := tx.DeleteBucket(bucketRecords); err != nil {
			return err
		}
		nb, err := tx.CreateBucket(bucketRecords)
		if err != nil {
			return err
		}
		// Sequences keep growing: the cursor of delivered records stays valid.
		return nb.SetSequence(seq)
	})
	if err != nil {
		return 0, fmt.Errorf("uplink: purge %s: %w", path, err)
	}
	ents, _ := os.ReadDir(filepath.Join(dir, "samples"))
	for _, e := range ents {
		os.Remove(filepath.Join(dir, "samples", e.Name()))
	}
	return n, nil
}
