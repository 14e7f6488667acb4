package files

import (
	"encoding/hex"
	"fmt"
	"time"

	"github.com/edgesensor/edgesensor/userspace/files/filetype"
	"github.com/edgesensor/edgesensor/userspace/files/formats"
	"github.com/edgesensor/edgesensor/userspace/files/transfer"
	"github.com/edgesensor/edgesensor/userspace/verdict/score"
)

// analyse reads a candidate when it ends, before the spooled copy is
// deleted or retained: the spooled bytes are parsed once by their format
// (package formats), and the one model goes to the metadata and to the
// static analyzers; then the file is scored.
func (f *file) analyse() {
	var doc *formats.Doc
	if f.spool != nil {
		doc = formats.Parse(f.spool, f.spoolBytes, f.typ.Format(), f.s.p.cfg.Static.MaxRead)
		f.metadata = filetype.MetadataOf(doc)
		f.metadataRead = true
	}
	f.score = f.scoreFile(doc)
}

// scoreFile scores a candidate: the static analyzers over its parsed
// spool (or, when it has none, doc nil, the checks of its name alone),
// then the intel on its hashes and on where it came from.
func (f *file) scoreFile(doc *formats.Doc) score.Result {
	p := f.s.p
	reasons := f.analyseDoc(doc, baseName(f.meta.Name))
	if p.cfg.YARA != nil && f.spool != nil {
		reasons = append(reasons, f.yaraReasons()...)
	}
	if f.cut == transfer.CutBomb {
		reasons = append(reasons, score.Reason{Rule: "file.decompression_bomb", Weight: 7,
			Text: "its content encoding expanded past files.max_decompressed or files.max_ratio: cut"})
	}
	var set = p.intel()
	var hosts []string
	if f.meta.Protocol == transfer.HTTP {
		hosts = append(hosts, hostOnly(f.meta.Host))
	}
	reasons = append(reasons, score.FileIntel(set, hexOrEmpty(f.sum256), hexOrEmpty(f.sum1), hexOrEmpty(f.sum5),
		f.flow.key.server.Addr(), hosts...)...)
	return score.Combine(reasons, p.cfg.Threshold)
}

func hexOrEmpty(b []byte) string {
	if b == nil {
		return ""
	}
	return hex.EncodeToString(b)
}

// yaraTimeout bounds one file's YARA scan.
const yaraTimeout = 10 * time.Second

// yaraReasons matches the analysts' rules against the spooled file: a
// match weighs the rule's own threat level, else 8; a failed scan is a
// reason too (weight 0), so the analyst sees the file was not covered.
func (f *file) yaraReasons() []score.Reason {
	ms, err := f.s.p.cfg.YARA.ScanFile(f.spoolPath, yaraTimeout)
	var rs []score.Reason
	for _, m := range ms {
		w := m.Level
		if w == 0 {
			w = 8
		}
		rs = append(rs, score.Reason{Rule: "yara." + m.Rule, Weight: w,
			Text: fmt.Sprintf("YARA rule %s:%s matched", m.Namespace, m.Rule)})
	}
	if err != nil {
		f.s.p.Stats.YARAErrors.Add(1)
		rs = append(rs, score.Reason{Rule: "yara.error", Text: err.Error()})
	}
	return rs
}
