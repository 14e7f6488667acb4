package craft

import "testing"

func corpus(t testing.TB) *Corpus {
	t.Helper()
	c, err := DefaultCorpus()
	if err != nil {
		t.Fatal(err)
	}
	return c
}
