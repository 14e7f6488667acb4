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
	fields := map[string]bool{}
	for _, f := range evcat.Fields() {
		fields[f.Path] = true
	}
	if len(fields) < 100 {
		t.Fatalf("only %d event fields: the catalogue is incomplete", len(fields))
	}
	ix := buildIndex()
	for path := range ix {
		if !fields[path] {
			t.Errorf("rule for %s: no event carries it (renamed?)", path)
		}
	}
	for path := range fields {
		if ix.find(path) == nil {
			t.Errorf("event field %s has no rule: classify it in rules.go (tDrop if it must not leave)", path)
		}
	}
}

// Every dataset carries network.community_id, and its rule drops it: an
// unkeyed hash of the raw addresses and ports never leaves
// (TestCommunityIDNeverLeaves runs real events through every setting).
func TestCommunityIDRuleDropsItInEveryDataset(t *testing.T) {
	var datasets []string
	for _, f := range evcat.Fields() {
		if f.Path == "network.community_id" {
			datasets = f.Datasets
		}
	}
	if len(datasets) != len(evcat.Types) {
		t.Errorf("network.community_id is carried by %v, want every dataset", datasets)
	}
	r := buildIndex().find("network.community_id")
	if r == nil || r.tr != tDrop || r.class != classEvent {
		t.Fatalf("network.community_id: rule %+v, want dropped", r)
	}
}
