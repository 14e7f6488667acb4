package privacy

import (
	"testing"

	evcat "github.com/edgesensor/edgesensor/userspace/export/events"
)

// The allowlist and the event definitions are tied: every rule names a
// field some event type carries (a field renamed in its type, and not in
// the table, fails here instead of silently no longer leaving, or a new
// field of the old name leaving unexamined), and every field an event
// can carry has a rule (dropped or not), so the disclosure lists each.
func TestRulesNameEventFields(t *testing.T) {
	// Fields the table names before any event carries them: they must
	// be dropped until they are looked at.
	reserved := map[string]bool{"network.community_id": true}
	fields := map[string]bool{}
	for _, f := range evcat.Fields() {
		fields[f.Path] = true
	}
	if len(fields) < 100 {
		t.Fatalf("only %d event fields: the catalogue is incomplete", len(fields))
	}
	ix := buildIndex()
	for path, r := range ix {
		switch {
		case fields[path]:
		case reserved[path] && r.tr == tDrop:
		default:
			t.Errorf("rule for %s: no event carries it (renamed?)", path)
		}
	}
	for path := range fields {
		if ix.find(path) == nil {
			t.Errorf("event field %s has no rule: classify it in rules.go (tDrop if it must not leave)", path)
		}
	}
}
