package craft

import "testing"

// The fingerprints computed here from the corpus hellos equal the
// corpus truths: JA3/JA3S from tshark, JA4 from the JA4 authors' code.
func TestFingerprintsMatchCorpusTruth(t *testing.T) {
	c := corpus(t)
	n := 0
	for _, name := range tlsSources {
		st, src, err := c.stream(name)
		if err != nil {
			t.Fatal(err)
		}
		ch, err := clientHelloOf(st.Turns[0].Data)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		sh, err := serverHelloOf(st.Turns[1].Data)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		w := src.Truth.TLS[0]
		got := [4]string{ch.SNI(), ch.JA3(), sh.JA3S(), ch.JA4(false)}
		want := [4]string{w.SNI, w.JA3, w.JA3S, w.JA4}
		if got != want {
			t.Errorf("%s: sni/ja3/ja3s/ja4\n got %q\nwant %q", name, got, want)
		}
		n++
	}
	if n != 4 {
		t.Fatalf("%d TLS sources", n)
	}
}
