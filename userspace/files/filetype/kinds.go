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
	// Carriers of today's malware (carriers.go).
	kISO
	kUDF
	kVHD
	kVHDX
	kNamedImage
	kLNK
	kURL
	kDEB
	kRPM
	kAPPX
	kClass
	kOneNote
	kCHM
	kHTA
	kPowerShell
	kVBScript
	kJScript
	kWSF
	kBatch
	kShell
	kPython
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

	KindISO        = "iso9660"
	KindUDF        = "udf"
	KindVHD        = "vhd"
	KindVHDX       = "vhdx"
	KindNamedImage = "named-disk-image"
	KindLNK        = "lnk"
	KindURL        = "url"
	KindDEB        = "deb"
	KindRPM        = "rpm"
	KindAPPX       = "appx"
	KindClass      = "java-class"
	KindOneNote    = "onenote"
	KindCHM        = "chm"
	KindHTA        = "hta"
	KindPowerShell = "powershell"
	KindVBScript   = "vbscript"
	KindJScript    = "jscript"
	KindWSF        = "wsf"
	KindBatch      = "batch"
	KindShell      = "shell"
	KindPython     = "python"
)

// fam is a set of format families. A name's extension and a claimed
// Content-Type each map to a set; so does the content. They mismatch
// when both are known and share no family.
type fam uint64

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
	famDiskImage
	famLNK
	famURL
	famDeb
	famRPM
	famAppx
	famOneNote
	famCHM
	famHTA
	famPS
	famVBS
	famJS
	famWSF
	famBatch
	famShell
	famPython
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
	kMSI:   {KindMSI, Package, famMSI | famOLE, "content: MSI installer (OLE2)", "application/x-ms-installer"},
	kJAR:   {KindJAR, Java, famJava | famZip, "content: Java archive (zip with META-INF)", "application/java-archive"},
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

	kISO:        {KindISO, DiskImage, famDiskImage, "content: ISO 9660 image (CD001 volume descriptor)", "application/x-iso9660-image"},
	kUDF:        {KindUDF, DiskImage, famDiskImage, "content: UDF image (NSR volume recognition)", "application/x-udf-image"},
	kVHD:        {KindVHD, DiskImage, famDiskImage, "content: VHD disk image (conectix)", "application/x-vhd"},
	kVHDX:       {KindVHDX, DiskImage, famDiskImage, "content: VHDX disk image (vhdxfile)", "application/x-vhdx"},
	kNamedImage: {KindNamedImage, DiskImage, 0, "", ""}, // reason per extension; MIME is the library's
	kLNK:        {KindLNK, Shortcut, famLNK, "content: Windows shortcut (LNK header)", "application/x-ms-shortcut"},
	kURL:        {KindURL, Shortcut, famURL | famText, "content: internet shortcut ([InternetShortcut])", "application/x-mswinurl"},
	kDEB:        {KindDEB, Package, famDeb, "content: Debian package (ar with debian-binary)", "application/vnd.debian.binary-package"},
	kRPM:        {KindRPM, Package, famRPM, "content: RPM package (lead magic)", "application/x-rpm"},
	kAPPX:       {KindAPPX, Package, famAppx | famZip, "content: APPX/MSIX package (zip with AppxManifest.xml)", "application/vnd.ms-appx"},
	kClass:      {KindClass, Java, famJava, "content: Java class file (CAFEBABE, class version)", "application/java-vm"},
	kOneNote:    {KindOneNote, Document, famOneNote, "content: OneNote section (file format GUID)", "application/onenote"},
	kCHM:        {KindCHM, Document, famCHM, "content: compiled HTML help (ITSF)", "application/vnd.ms-htmlhelp"},
	kHTA:        {KindHTA, Script, famHTA | famText, "content: HTML application (HTA:APPLICATION)", "application/hta"},
	kPowerShell: {KindPowerShell, Script, famPS | famText, "", "text/x-powershell"},
	kVBScript:   {KindVBScript, Script, famVBS | famText, "", "text/vbscript"},
	kJScript:    {KindJScript, Script, famJS | famText, "", "text/jscript"},
	kWSF:        {KindWSF, Script, famWSF | famText, "", "text/xml"},
	kBatch:      {KindBatch, Script, famBatch | famText, "", "text/x-msdos-batch"},
	kShell:      {KindShell, Script, famShell | famText, "", "text/x-shellscript"},
	kPython:     {KindPython, Script, famPython | famText, "", "text/x-python"},
}
