// Package libeval weighs the field's libraries against the hand-written
// format readers of userspace/files/formats, on the same inputs: the fixtures
// and the corpus (same results?), hostile variants (bounded time and
// memory?), seeded random mutations (what fuzzing finds first) and
// benchmarks (speed, allocations).
//
//   - github.com/saferwall/pe v1.6.5 (MIT) against pefile: pe_test.go
//   - github.com/richardlehane/mscfb v1.0.9 (Apache-2.0) against ole2:
//     ole2_test.go
//
// It is a module of its own so that the libraries, not adopted, stay out
// of the sensor's go.mod. Run from this directory:
//
//	go test -v -run .                 # results, hostile inputs, mutations
//	go test -run XXX -bench . -benchmem
//
// Each hostile input runs in a child process with a deadline, so a
// library that never returns is reported, not waited for. The findings
// are written beside the readers (package comments of pefile and ole2).
package libeval
