package httpx

import (
	"strings"
	"testing"

	"github.com/edgesensor/edgesensor/userspace/files/transfer"
)

type nopSink struct{}

func (nopSink) Open(*transfer.Meta) transfer.File { return nopFile{} }

// nopFile takes every byte and drops it.
type nopFile struct{}

func (nopFile) Write([]byte) bool  { return true }
func (nopFile) Gap(int64)          {}
func (nopFile) Close(transfer.Cut) {}

// Feeding a body must not allocate: the identity and chunked paths run
// per packet.
func TestDataDoesNotAllocate(t *testing.T) {
	piece := make([]byte, 1448)
	for _, chunked := range []bool{false, true} {
		p := New(nopSink{}, Options{}, nil)
		p.Data(true, []byte(get("/x")))
		if chunked {
			p.Data(false, []byte(msg("HTTP/1.1 200 OK", "", "Transfer-Encoding: chunked")))
		} else {
			p.Data(false, []byte(msg("HTTP/1.1 200 OK", "", "Content-Length: 1000000000000")))
		}
		// Chunks of 1448 - 8 bytes so each piece holds a chunk line too.
		chunkPiece := []byte("598\r\n" + strings.Repeat("a", 0x598) + "\r\n")
		allocs := testing.AllocsPerRun(1000, func() {
			if chunked {
				p.Data(false, chunkPiece)
			} else {
				p.Data(false, piece)
			}
		})
		if allocs != 0 {
			t.Errorf("chunked %v: %v allocations per Data call", chunked, allocs)
		}
		if p.resp.st != stBody {
			t.Fatalf("chunked %v: left the body", chunked)
		}
	}
}
