// Package filetype decides what a reconstructed file is, from its first
// bytes, and reads vendor/creator metadata from the file itself.
//
// The file pipeline calls Detect with the first HeadSize bytes of each
// file, the name the sender gave and the claimed Content-Type, keeps the
// candidates (Category Executable, Document or Archive; each with a
// maximum size from the config, see ParseCategory), spools them, and at
// the end calls Metadata on the spooled file.
//
// # Typing rules
//
// Content first; github.com/gabriel-vasile/mimetype gives the MIME type
// and most signatures, and the rules below sharpen it. In order:
//
//	EICAR      the 68-byte test string at offset 0, then only whitespace, 128 bytes at most -> executable/eicar
//	ELF        \x7fELF                                               -> executable/elf
//	RTF        {\rt (Word needs no more)                             -> document/rtf
//	MZ         e_lfanew -> "PE\0\0" inside the head                  -> executable/pe
//	           else a self-consistent DOS header                     -> executable/dos
//	           else (two stray bytes "MZ")                           -> not a PE
//	library    Mach-O                                                -> executable/macho
//	           MSI (OLE2 with the installer CLSID or app name)       -> executable/msi (it installs and runs code)
//	           JAR, APK                                              -> executable/jar, apk (code, though zips)
//	           PDF ("%PDF-" in the first 1024 bytes; off offset 0
//	           only when followed by a version d.d)                  -> document/pdf
//	           OLE2: doc, xls, ppt, pub, msg, generic                -> document/ole2
//	           OOXML docx/docm, xlsx/xlsm, pptx/pptm, vsdx           -> document/docx, xlsx, pptx, ooxml
//	           ODF (any application/vnd.oasis.opendocument.*)       -> document/odf
//	           zip: our walk of the local headers in the head finds
//	           OOXML parts in any order, ODF with extra fields or
//	           unlisted subtypes, JAR/APK markers; else (epub, kmz
//	           and plain zips)                                       -> archive/zip
//	           rar (v4, v5), 7z, tar (ustar or checksum), cab (MSCF) -> archive/...
//	           gzip (method 8), xz, bzip2 (block magic), zstd frame  -> archive/gzip, xz, bzip2, zstd
//	           nothing (octet-stream) and a plausible COFF object
//	           (i386, amd64, arm64; every header field checked)      -> executable/coff
//	anything else (images, media, text, HTML, JSON...)               -> None, MIME set
//
// Name rule: a non-candidate named *.bin, *.exe, *.com, *.elf, *.prx,
// *.ex or *.ex_ (case-insensitive) is executable/named-executable when
// its content is not clearly another type: the library found nothing
// (application/octet-stream), or only a weak signature (zlib, MPEG or AAC
// frame sync), or text that IsText rejects (the library calls any bytes
// without C0 controls text; a tiny DOS .com passes that). So x.com of 8
// bytes of x86 code is an executable, a UTF-8 setup.bin is not, and a
// JPEG named x.exe is not (but is a Mismatch).
//
// Mismatch is set when the name's extension or the claimed type names a
// format family the content is not in (a PE named .jpg or served as
// image/jpeg, an ELF served as text/plain, RTF named .doc). Generic
// names and types (.bin, .dat, application/octet-stream) claim nothing.
//
// Picture names the picture format of a file Detect typed None (JPEG,
// PNG, GIF, BMP, WebP, by signature): the file pipeline reads pictures
// whole for a payload after their end and types one that carries it by
// a polyglot kind, PolyglotKind ("jpeg+zip"); see picture.go.
//
// # Metadata
//
// Metadata reads PE version resources, architecture, subsystem, compile
// time and imphash (ECS file.pe.*, see PEMeta), the ELF header (ECS
// file.elf.*), the PDF Info dictionary with XMP as a fallback, OOXML
// docProps, ODF meta.xml and the OLE2 summary information. It reads
// through an io.ReaderAt with fixed bounds and trusts nothing in the
// file.
package filetype
