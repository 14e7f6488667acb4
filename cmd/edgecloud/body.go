package main

import (
	"compress/gzip"
	"errors"
	"io"
	"net/http"
)

// body returns the request body, gunzipped if Content-Encoding says so, and
// limited to limit bytes both on the wire and decompressed (a small gzip
// body must not expand into gigabytes).
func (s *server) body(w http.ResponseWriter, r *http.Request, limit int64) (io.ReadCloser, bool) {
	rd := http.MaxBytesReader(w, r.Body, limit)
	switch enc := r.Header.Get("Content-Encoding"); enc {
	case "", "identity":
		return rd, true
	case "gzip":
		gz, err := gzip.NewReader(rd)
		if err != nil {
			if tooLarge(err) {
				s.fail(w, http.StatusRequestEntityTooLarge, "body larger than %d bytes", limit)
			} else {
				s.fail(w, http.StatusBadRequest, "bad gzip body: %v", err)
			}
			return nil, false
		}
		return struct {
			io.Reader
			io.Closer
		}{&limitedReader{r: gz, n: limit}, rd}, true
	default:
		s.fail(w, http.StatusUnsupportedMediaType, "unsupported Content-Encoding %q", enc)
		return nil, false
	}
}

var errDecompressedTooLarge = errors.New("decompressed body too large")

// limitedReader is io.LimitReader that fails instead of truncating.
type limitedReader struct {
	r io.Reader
	n int64
}

func (l *limitedReader) Read(p []byte) (int, error) {
	if l.n <= 0 {
		// Probe: only an error if there really is more data.
		var one [1]byte
		if n, _ := l.r.Read(one[:]); n > 0 {
			return 0, errDecompressedTooLarge
		}
		return 0, io.EOF
	}
	if int64(len(p)) > l.n {
		p = p[:l.n]
	}
	n, err := l.r.Read(p)
	l.n -= int64(n)
	return n, err
}

func tooLarge(err error) bool {
	var mbe *http.MaxBytesError
	return errors.As(err, &mbe) || errors.Is(err, errDecompressedTooLarge)
}

func (s *server) readAll(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, bool) {
	rd, ok := s.body(w, r, limit)
	if !ok {
		return nil, false
	}
	defer rd.Close()
	data, err := io.ReadAll(rd)
	switch {
	case err == nil:
		return data, true
	case tooLarge(err):
		s.fail(w, http.StatusRequestEntityTooLarge, "body larger than %d bytes", limit)
	default:
		s.fail(w, http.StatusBadRequest, "reading body: %v", err)
	}
	return nil, false
}
