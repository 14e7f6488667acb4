package pdffile

import (
	"bytes"
	"encoding/xml"

	"github.com/edgesensor/edgesensor/userspace/files/formats/internal/text"
)

const (
	nsDC  = "http://purl.org/dc/elements/1.1/"
	nsXMP = "http://ns.adobe.com/xap/1.0/"
	nsPDF = "http://ns.adobe.com/pdf/1.3/"

	maxXMP = 256 << 10 // bytes of an XMP packet parsed
)

// xmpInfo fills the empty fields of m from an uncompressed XMP packet in
// w (writers are asked to leave it unfiltered so that tools find it; a
// compressed one is not read). found reports a packet, filled that it
// gave a value.
func xmpInfo(w []byte, m *Info) (found, filled bool) {
	i := bytes.Index(w, []byte("<x:xmpmeta"))
	if i < 0 {
		return false, false
	}
	e := bytes.Index(w[i:], []byte("</x:xmpmeta>"))
	if e < 0 {
		return false, false
	}
	pkt := w[i : i+e+len("</x:xmpmeta>")]
	if len(pkt) > maxXMP {
		pkt = pkt[:maxXMP]
	}
	vals := text.XMLValues(bytes.NewReader(pkt), map[xml.Name]bool{
		{Space: nsDC, Local: "title"}: true, {Space: nsDC, Local: "creator"}: true,
		{Space: nsXMP, Local: "CreatorTool"}: true, {Space: nsPDF, Local: "Producer"}: true,
	})
	fill := func(dst *string, k xml.Name) {
		if *dst == "" && vals[k] != "" {
			*dst = vals[k]
			filled = true
		}
	}
	fill(&m.Title, xml.Name{Space: nsDC, Local: "title"})
	fill(&m.Author, xml.Name{Space: nsDC, Local: "creator"})
	fill(&m.Creator, xml.Name{Space: nsXMP, Local: "CreatorTool"})
	fill(&m.Producer, xml.Name{Space: nsPDF, Local: "Producer"})
	return true, filled
}
