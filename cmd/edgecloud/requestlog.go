package main

import (
	"context"
	"encoding/json"
	"net/http"
	"time"
)

// requestLine is one --request-log line: everything a request brought,
// so tests can check all that reached the cloud, not only the records.
type requestLine struct {
	Time      time.Time           `json:"time"`
	Method    string              `json:"method"`
	Path      string              `json:"path"`
	Query     string              `json:"query,omitempty"`
	Header    map[string][]string `json:"header"`
	Body      string              `json:"body,omitempty"`       // events and lookups, decompressed
	BodyBytes int64               `json:"body_bytes,omitempty"` // samples: their content is in --data
	Status    int                 `json:"status"`
}

type ctxKey struct{}

// logBody records the decoded body of the request being served.
func (s *server) logBody(r *http.Request, body []byte) {
	if l, ok := r.Context().Value(ctxKey{}).(*requestLine); ok {
		l.Body = string(body)
	}
}

// statusWriter remembers the status written.
type statusWriter struct {
	http.ResponseWriter
	code int
}

func (w *statusWriter) WriteHeader(code int) {
	w.code = code
	w.ResponseWriter.WriteHeader(code)
}

// logRequests wraps h to write a --request-log line per request.
func (s *server) logRequests(h http.Handler) http.Handler {
	if s.reqLog == nil {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		l := &requestLine{Time: time.Now().UTC(), Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery, Header: r.Header.Clone()}
		sw := &statusWriter{ResponseWriter: w, code: http.StatusOK}
		h.ServeHTTP(sw, r.WithContext(context.WithValue(r.Context(), ctxKey{}, l)))
		l.Status = sw.code
		if r.Method == http.MethodPut {
			l.BodyBytes = r.ContentLength
		}
		b, err := json.Marshal(l)
		if err != nil {
			return
		}
		s.reqMu.Lock()
		defer s.reqMu.Unlock()
		if _, err := s.reqLog.Write(append(b, '\n')); err != nil {
			s.cfg.Log.Error().Err(err).Msg("request log")
		}
	})
}
