package filetype

import (
	"bytes"
	"encoding/xml"
	"io"
	"strings"
)

const (
	nsDC  = "http://purl.org/dc/elements/1.1/"
	nsXMP = "http://ns.adobe.com/xap/1.0/"
	nsPDF = "http://ns.adobe.com/pdf/1.3/"
	nsRDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
)

// xmpPDF fills the empty fields of m from an uncompressed XMP packet in
// w (writers are asked to leave it unfiltered so that tools find it; a
// compressed one is not read). It reports whether a packet was found.
func xmpPDF(w []byte, m *PDFMeta) bool {
	i := bytes.Index(w, []byte("<x:xmpmeta"))
	if i < 0 {
		return false
	}
	e := bytes.Index(w[i:], []byte("</x:xmpmeta>"))
	if e < 0 {
		return false
	}
	pkt := w[i : i+e+len("</x:xmpmeta>")]
	if len(pkt) > maxXMLPart {
		pkt = pkt[:maxXMLPart]
	}
	vals := xmlValues(pkt, map[xml.Name]bool{
		{Space: nsDC, Local: "title"}: true, {Space: nsDC, Local: "creator"}: true,
		{Space: nsXMP, Local: "CreatorTool"}: true, {Space: nsPDF, Local: "Producer"}: true,
	})
	fill := func(dst *string, k xml.Name) {
		if *dst == "" && vals[k] != "" {
			*dst = vals[k]
			m.FromXMP = true
		}
	}
	fill(&m.Title, xml.Name{Space: nsDC, Local: "title"})
	fill(&m.Author, xml.Name{Space: nsDC, Local: "creator"})
	fill(&m.Creator, xml.Name{Space: nsXMP, Local: "CreatorTool"})
	fill(&m.Producer, xml.Name{Space: nsPDF, Local: "Producer"})
	return true
}

// xmlValues returns the first text of each wanted element (for an RDF
// container, of its first rdf:li) and of each wanted attribute (XMP
// writes simple properties as attributes of rdf:Description too). The
// decoder reads at most len(b) bytes, does not expand external entities,
// and stops at the first syntax error with what it has.
func xmlValues(b []byte, want map[xml.Name]bool) map[xml.Name]string {
	return xmlValuesReader(bytes.NewReader(b), want)
}

func xmlValuesReader(r io.Reader, want map[xml.Name]bool) map[xml.Name]string {
	out := map[xml.Name]string{}
	dec := xml.NewDecoder(r)
	dec.Strict = false
	dec.CharsetReader = func(_ string, in io.Reader) (io.Reader, error) { return in, nil }
	var cur xml.Name // the wanted element we are inside, if any
	var text strings.Builder
	depth, curDepth := 0, 0
	for tokens := 0; tokens < 100000; tokens++ {
		tok, err := dec.Token()
		if err != nil {
			break
		}
		switch t := tok.(type) {
		case xml.StartElement:
			depth++
			for _, a := range t.Attr {
				if want[a.Name] && out[a.Name] == "" {
					out[a.Name] = clean(a.Value)
				}
			}
			if cur.Local == "" && want[t.Name] && out[t.Name] == "" {
				cur, curDepth = t.Name, depth
				text.Reset()
			}
		case xml.CharData:
			if cur.Local != "" && text.Len() < 4*maxValue {
				text.Write(t)
			}
		case xml.EndElement:
			if cur.Local != "" {
				// End of an rdf:li with text, or of the element itself.
				if s := strings.TrimSpace(text.String()); s != "" && (t.Name.Space == nsRDF && t.Name.Local == "li" || depth == curDepth) {
					out[cur] = clean(s)
					cur = xml.Name{}
				} else if depth == curDepth {
					cur = xml.Name{}
				}
			}
			depth--
		}
	}
	return out
}
