package filetype

// kind is the internal, table-driven form of Type.Kind: every decision
// ends in one row, so the category, the reason and the families used for
// the mismatch check can never disagree.
type kind uint8

const (
	kNone kind = iota
	kEICAR
	kPE
	kDOS
	kELF
	kCOFF
	kMachO
	kMSI
	kJAR
	kAPK
	kNamed
	kPDF
	kOLE2
	kDOCX
	kXLSX
	kPPTX
	kOOXML
	kRTF
	kODF
	kZip
	kRAR
	k7z
	kGzip
	kTar
	kCab
	kXz
	kBzip2
	kZstd
	numKinds
)

// Kind names (Type.Kind).
const (
	KindEICAR = "eicar"
	KindPE    = "pe"
	KindDOS   = "dos" // MZ without a PE header in the head
	KindELF   = "elf"
	KindCOFF  = "coff"
	KindMachO = "macho"
	KindMSI   = "msi"
	KindJAR   = "jar"
	KindAPK   = "apk"
	KindNamed = "named-executable"
	KindPDF   = "pdf"
	KindOLE2  = "ole2"
	KindDOCX  = "docx"
	KindXLSX  = "xlsx"
	KindPPTX  = "pptx"
	KindOOXML = "ooxml" // OOXML whose main part was not in the head
	KindRTF   = "rtf"
	KindODF   = "odf"
	KindZip   = "zip"
	KindRAR   = "rar"
	Kind7z    = "7z"
	KindGzip  = "gzip"
	KindTar   = "tar"
	KindCab   = "cab"
	KindXz    = "xz"
	KindBzip2 = "bzip2"
	KindZstd  = "zstd"
)

// fam is a set of format families. A name's extension and a claimed
// Content-Type each map to a set; so does the content. They mismatch
// when both are known and share no family.
type fam uint32

const (
	famPE fam = 1 << iota // PE, DOS MZ (and .com)
	famELF
	famMachO
	famCOFF
	famMSI
	famJava
	famAPK
	famPDF
	famOLE
	famOOXML
	famRTF
	famODF
	famZip
	famRAR
	fam7z
	famGzip
	famTar
	famCab
	famXz
	famBzip2
	famZstd
	famImage
	famAudio
	famVideo
	famText
)

type kindInfo struct {
	name   string
	cat    Category
	fam    fam
	reason string
	mime   string // the MIME when the decision is ours, not the library's
}

const (
	mimeOctet = "application/octet-stream"
	mimePE    = "application/vnd.microsoft.portable-executable"
	mimeDOCX  = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
	mimeXLSX  = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
	mimePPTX  = "application/vnd.openxmlformats-officedocument.presentationml.presentation"
)

var kinds = [numKinds]kindInfo{
	kNone:  {},
	kEICAR: {KindEICAR, Executable, famPE | famText, "content: EICAR test string", "text/plain"},
	kPE:    {KindPE, Executable, famPE, "content: PE (MZ and PE header)", mimePE},
	kDOS:   {KindDOS, Executable, famPE, "content: DOS MZ executable, no PE header in head", mimePE},
	kELF:   {KindELF, Executable, famELF, "content: ELF", "application/x-elf"},
	kCOFF:  {KindCOFF, Executable, famCOFF, "content: COFF object", "application/x-coff"},
	kMachO: {KindMachO, Executable, famMachO, "content: Mach-O", "application/x-mach-binary"},
	kMSI:   {KindMSI, Executable, famMSI | famOLE, "content: MSI installer (OLE2)", "application/x-ms-installer"},
	kJAR:   {KindJAR, Executable, famJava | famZip, "content: Java archive (zip with META-INF)", "application/java-archive"},
	kAPK:   {KindAPK, Executable, famAPK | famJava | famZip, "content: Android package (zip with Android parts)", "application/vnd.android.package-archive"},
	kNamed: {KindNamed, Executable, 0, "", ""}, // reason per extension (namedReasons); MIME is the library's
	kPDF:   {KindPDF, Document, famPDF, "content: PDF header", "application/pdf"},
	kOLE2:  {KindOLE2, Document, famOLE, "content: OLE2 compound file", "application/x-ole-storage"},
	kDOCX:  {KindDOCX, Document, famOOXML | famZip, "content: OOXML (zip with word/ part)", mimeDOCX},
	kXLSX:  {KindXLSX, Document, famOOXML | famZip, "content: OOXML (zip with xl/ part)", mimeXLSX},
	kPPTX:  {KindPPTX, Document, famOOXML | famZip, "content: OOXML (zip with ppt/ part)", mimePPTX},
	kOOXML: {KindOOXML, Document, famOOXML | famZip, "content: OOXML (zip with [Content_Types].xml)", "application/zip"},
	kRTF:   {KindRTF, Document, famRTF | famText, "content: RTF ({\\rt)", "text/rtf"},
	kODF:   {KindODF, Document, famODF | famZip, "content: ODF (zip with opendocument mimetype)", "application/vnd.oasis.opendocument"},
	kZip:   {KindZip, Archive, famZip, "content: zip archive", "application/zip"},
	kRAR:   {KindRAR, Archive, famRAR, "content: RAR archive", "application/vnd.rar"},
	k7z:    {Kind7z, Archive, fam7z, "content: 7z archive", "application/x-7z-compressed"},
	kGzip:  {KindGzip, Archive, famGzip, "content: gzip stream", "application/gzip"},
	kTar:   {KindTar, Archive, famTar, "content: tar archive", "application/x-tar"},
	kCab:   {KindCab, Archive, famCab, "content: Microsoft cabinet (MSCF)", "application/vnd.ms-cab-compressed"},
	kXz:    {KindXz, Archive, famXz, "content: xz stream", "application/x-xz"},
	kBzip2: {KindBzip2, Archive, famBzip2, "content: bzip2 stream", "application/x-bzip2"},
	kZstd:  {KindZstd, Archive, famZstd, "content: zstd frame", "application/zstd"},
}
