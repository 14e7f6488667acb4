package analyzers

import (
	"fmt"
	"strings"

	"github.com/edgesensor/edgesensor/userspace/files/formats"
	"github.com/edgesensor/edgesensor/userspace/verdict/score"
)

// PDF: the names that make a PDF act rather than display, as package
// pdffile counted them (object streams included, #xx escapes decoded: an
// escaped keyword is itself a finding).

const pdfManyURI = 20

func (a *run) pdf(d *formats.Doc, _ string, _ int) []score.Reason {
	if d.PDF == nil {
		return nil
	}
	c := &d.PDF.Keywords
	var out []score.Reason
	add := func(rule string, w int, format string, args ...any) {
		out = append(out, score.Reason{Rule: rule, Weight: w, Text: fmt.Sprintf(format, args...)})
	}
	js := c.JavaScript + c.JS
	auto := c.OpenAction + c.AA
	if c.ObfuscatedCount > 0 {
		add("pdf.obfuscated_name", 5, "keyword names hidden with #xx escapes: %s", strings.Join(first(c.Obfuscated, 5), " "))
	}
	switch {
	case js > 0 && auto > 0:
		add("pdf.auto_javascript", 7, "JavaScript run on open or on an event (/OpenAction or /AA)")
	case js > 0:
		add("pdf.javascript", 5, "contains JavaScript")
	}
	if c.Launch > 0 {
		add("pdf.launch", 7, "a /Launch action starts a program or opens a file")
	}
	if c.EmbeddedFile > 0 {
		add("pdf.embedded_file", 4, "carries %d embedded file(s)", c.EmbeddedFile)
	}
	if c.XFA > 0 {
		add("pdf.xfa", 2, "XFA form (can carry scripts)")
	}
	if c.URI > pdfManyURI {
		add("pdf.many_uris", 2, "%d URI actions", c.URI)
	}
	return out
}

func first(s []string, n int) []string { return s[:min(len(s), n)] }
