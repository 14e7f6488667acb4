package kafka

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"time"

	"go.etcd.io/bbolt"
)

var bucketRecords = []byte("records") // seq (big-endian uint64) → encoded record

// spoolVersion leads every stored value so the format can change later.
const spoolVersion = 1

var errCorrupt = errors.New("corrupt spool record")

// encode is the record as stored: version, dataset, key, value.
func (r *Record) encode() []byte {
	b := make([]byte, 0, 1+3*binary.MaxVarintLen32+len(r.Dataset)+len(r.Key)+len(r.Value))
	b = append(b, spoolVersion)
	b = binary.AppendUvarint(b, uint64(len(r.Dataset)))
	b = append(b, r.Dataset...)
	b = binary.AppendUvarint(b, uint64(len(r.Key)))
	b = append(b, r.Key...)
	b = binary.AppendUvarint(b, uint64(len(r.Value)))
	return append(b, r.Value...)
}

// decode parses encode's output, copying (b belongs to bbolt).
func (r *Record) decode(b []byte) error {
	if len(b) == 0 || b[0] != spoolVersion {
		return errCorrupt
	}
	b = b[1:]
	field := func() ([]byte, bool) {
		l, n := binary.Uvarint(b)
		if n <= 0 || uint64(len(b)-n) < l {
			return nil, false
		}
		f := b[n : n+int(l)]
		b = b[n+int(l):]
		return f, true
	}
	ds, ok1 := field()
	key, ok2 := field()
	val, ok3 := field()
	if !ok1 || !ok2 || !ok3 || len(b) != 0 {
		return errCorrupt
	}
	r.Dataset, r.Key = string(ds), string(key)
	r.Value = append([]byte(nil), val...)
	return nil
}

// spooled is a record read back with its place in the spool.
type spooled struct {
	seq uint64
	rec Record
}

// spool is the on-disk queue of records the brokers have not
// acknowledged: written only while the brokers are slow or away (and at
// shutdown), so a healthy sink does not wear the router's flash. Keys are
// the sink's sequence numbers, which only grow, so a cursor walks them in
// the order the events came.
type spool struct {
	db       *bbolt.DB
	maxBytes int64

	mu    sync.Mutex // count, bytes, last
	count int64
	bytes int64
	last  uint64 // highest sequence ever stored (0: none)
}

func openSpool(path string, maxBytes int64) (*spool, error) {
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{
		Timeout:        2 * time.Second,
		NoFreelistSync: true,
		FreelistType:   bbolt.FreelistMapType,
	})
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	s := &spool{db: db, maxBytes: maxBytes}
	err = db.Update(func(tx *bbolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(bucketRecords)
		if err != nil {
			return err
		}
		if k, _ := b.Cursor().Last(); k != nil {
			s.last = binary.BigEndian.Uint64(k)
		}
		return b.ForEach(func(_, v []byte) error {
			s.count++
			s.bytes += int64(len(v))
			return nil
		})
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("init %s: %w", path, err)
	}
	return s, nil
}

func (s *spool) close() error { return s.db.Close() }

func (s *spool) stats() (count, bytes int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.count, s.bytes
}

// lastSeq is the highest sequence ever stored.
func (s *spool) lastSeq() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.last
}

func seqKey(seq uint64) []byte { return binary.BigEndian.AppendUint64(nil, seq) }

// add stores recs (with their sequences) in one transaction, then drops
// the oldest records while the spool is over its bound. It returns the
// sequences dropped, so the caller can count them and skip them.
func (s *spool) add(recs []spooled) (dropped []uint64, err error) {
	var dCount, dBytes int64
	var last uint64
	err = s.db.Update(func(tx *bbolt.Tx) error {
		dCount, dBytes, dropped, last = 0, 0, dropped[:0], 0
		b := tx.Bucket(bucketRecords)
		b.FillPercent = 0.95 // keys mostly grow: pack pages full
		for i := range recs {
			v := recs[i].rec.encode()
			k := seqKey(recs[i].seq)
			if old := b.Get(k); old != nil {
				dCount--
				dBytes -= int64(len(old))
			}
			if err := b.Put(k, v); err != nil {
				return err
			}
			dCount++
			dBytes += int64(len(v))
			last = max(last, recs[i].seq)
		}
		s.mu.Lock()
		bytes := s.bytes
		s.mu.Unlock()
		c := b.Cursor()
		for k, v := c.First(); k != nil && s.maxBytes > 0 && bytes+dBytes > s.maxBytes; k, v = c.First() {
			size := int64(len(v))
			dropped = append(dropped, binary.BigEndian.Uint64(k))
			if err := c.Delete(); err != nil {
				return err
			}
			dCount--
			dBytes -= size
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("spool: %w", err)
	}
	s.mu.Lock()
	s.count += dCount
	s.bytes += dBytes
	s.last = max(s.last, last)
	s.mu.Unlock()
	return dropped, nil
}

// read returns up to max records in order, from sequence from on, and
// the sequences of values that do not decode (a torn write, another
// version): the caller deletes and counts them rather than stall on them.
func (s *spool) read(from uint64, max int) (out []spooled, bad []uint64, err error) {
	err = s.db.View(func(tx *bbolt.Tx) error {
		c := tx.Bucket(bucketRecords).Cursor()
		for k, v := c.Seek(seqKey(from)); k != nil && len(out)+len(bad) < max; k, v = c.Next() {
			e := spooled{seq: binary.BigEndian.Uint64(k)}
			if e.rec.decode(v) != nil {
				bad = append(bad, e.seq)
				continue
			}
			out = append(out, e)
		}
		return nil
	})
	if err != nil {
		return nil, nil, fmt.Errorf("spool: %w", err)
	}
	return out, bad, nil
}

// remove deletes records by sequence; ones already gone are skipped.
func (s *spool) remove(seqs []uint64) error {
	if len(seqs) == 0 {
		return nil
	}
	var dCount, dBytes int64
	err := s.db.Update(func(tx *bbolt.Tx) error {
		dCount, dBytes = 0, 0
		b := tx.Bucket(bucketRecords)
		for _, seq := range seqs {
			k := seqKey(seq)
			v := b.Get(k)
			if v == nil {
				continue
			}
			size := int64(len(v))
			if err := b.Delete(k); err != nil {
				return err
			}
			dCount--
			dBytes -= size
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	s.mu.Lock()
	s.count += dCount
	s.bytes += dBytes
	s.mu.Unlock()
	return nil
}
