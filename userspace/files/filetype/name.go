package filetype

import (
	"bytes"
	"strings"
)

// extKey is a lower-case file extension, NUL padded: a map key that
// costs no allocation to build from a name.
type extKey [8]byte

// extOf returns the extension of the name's last element ("" when none,
// or when longer than 8 bytes: no extension we know is).
func extOf(name string) (k extKey, ok bool) {
	if i := strings.LastIndexAny(name, `/\`); i >= 0 {
		name = name[i+1:]
	}
	i := strings.LastIndexByte(name, '.')
	if i < 0 || i == len(name)-1 || len(name)-i-1 > len(k) {
		return k, false
	}
	for j, c := range []byte(name[i+1:]) {
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		k[j] = c
	}
	return k, true
}

func key(s string) (k extKey) {
	copy(k[:], s)
	return k
}

// namedReasons are the requirement's executable extensions (a name is
// executable by extension when its content is not clearly another type).
var namedReasons = map[extKey]string{
	key("bin"): "name: .bin, content not clearly another type",
	key("exe"): "name: .exe, content not clearly another type",
	key("com"): "name: .com, content not clearly another type",
	key("elf"): "name: .elf, content not clearly another type",
	key("prx"): "name: .prx, content not clearly another type",
	key("ex"):  "name: .ex, content not clearly another type",
	key("ex_"): "name: .ex_, content not clearly another type",
}

// extFams says what a name claims. Extensions that claim nothing in
// particular (.bin, .dat, .tmp, none) are absent: they never mismatch.
var extFams = func() map[extKey]fam {
	m := map[extKey]fam{}
	add := func(f fam, exts string) {
		for _, e := range strings.Fields(exts) {
			m[key(e)] |= f
		}
	}
	add(famPE, "exe dll sys scr cpl ocx drv efi mui ax pif com ex ex_ tlb")
	add(famELF, "elf so ko axf prx out o")
	add(famCOFF, "obj o")
	add(famMachO, "dylib bundle o")
	add(famMSI|famOLE, "msi msp msm")
	add(famJava|famZip, "jar war ear")
	add(famAPK|famJava|famZip, "apk aab xapk")
	add(famJava, "class")
	add(famPDF, "pdf ai")
	add(famOLE, "doc dot xls xlt xla ppt pot pps msg pub vsd mpp")
	add(famOOXML|famZip, "docx docm dotx dotm xlsx xlsm xltx xltm xlam xlsb pptx pptm potx potm ppsx ppsm vsdx")
	add(famRTF, "rtf")
	add(famODF|famZip, "odt ods odp odg odf odc odb odm ott ots otp otg")
	add(famZip, "zip zipx epub kmz xpi nupkg whl vsix cbz ipa")
	add(famRAR, "rar cbr")
	add(fam7z, "7z")
	add(famGzip, "gz tgz gzip")
	add(famTar, "tar")
	add(famCab, "cab")
	add(famXz, "xz txz")
	add(famBzip2, "bz2 tbz tbz2")
	add(famZstd, "zst tzst")
	add(famImage, "jpg jpeg jpe jfif png gif bmp webp tif tiff ico svg heic heif avif")
	add(famAudio, "mp3 wav ogg oga flac m4a aac opus wma mid midi")
	add(famVideo, "mp4 m4v mkv avi mov webm wmv flv mpg mpeg 3gp")
	add(famText, "txt text csv tsv log md html htm xhtml xml json js mjs css ini cfg conf yaml yml eml ps1 bat cmd vbs sh py")
	add(famDiskImage, "iso img vhd vhdx dmg udf")
	add(famLNK, "lnk")
	add(famURL, "url website")
	add(famDeb, "deb udeb")
	add(famRPM, "rpm")
	add(famAppx|famZip, "appx msix")
	add(famOneNote, "one onepkg")
	add(famCHM, "chm")
	add(famHTA, "hta")
	add(famPS, "ps1 psm1 psd1")
	add(famVBS, "vbs vbe")
	add(famJS, "js jse mjs")
	add(famWSF, "wsf wsh")
	add(famBatch, "bat cmd")
	add(famShell, "sh bash")
	add(famPython, "py pyw")
	return m
}()

// claimFams maps claimed Content-Types. Generic download types claim
// nothing. image/, audio/, video/ and text/ are handled by prefix.
var claimFams = func() map[string]fam {
	m := map[string]fam{}
	add := func(f fam, types string) {
		for _, t := range strings.Fields(types) {
			m[t] |= f
		}
	}
	add(famPE, "application/x-msdownload application/x-msdos-program application/x-dosexec "+
		"application/vnd.microsoft.portable-executable application/x-ms-dos-executable "+
		"application/exe application/x-exe application/x-winexe application/dos-exe vms/exe "+
		"application/x-executable")
	add(famELF|famMachO, "application/x-executable")
	add(famELF, "application/x-elf application/x-sharedlib application/x-pie-executable application/x-coredump")
	add(famELF|famCOFF, "application/x-object")
	add(famMachO, "application/x-mach-binary")
	add(famMSI|famOLE, "application/x-msi application/x-ms-installer application/x-windows-installer")
	add(famJava|famZip, "application/java-archive application/x-java-archive application/jar")
	add(famAPK|famJava|famZip, "application/vnd.android.package-archive")
	add(famPDF, "application/pdf application/x-pdf")
	add(famOLE, "application/msword application/vnd.ms-excel application/vnd.ms-powerpoint "+
		"application/vnd.ms-outlook application/vnd.ms-publisher application/x-ole-storage application/vnd.visio")
	add(famRTF|famText, "application/rtf application/x-rtf text/rtf text/richtext")
	add(famZip, "application/zip application/x-zip application/x-zip-compressed multipart/x-zip application/epub+zip")
	add(famRAR, "application/vnd.rar application/x-rar application/x-rar-compressed")
	add(fam7z, "application/x-7z-compressed")
	add(famGzip, "application/gzip application/x-gzip application/x-gunzip application/gzipped")
	add(famTar|famGzip, "application/x-tar application/x-gtar application/x-ustar application/x-compressed-tar")
	add(famCab, "application/vnd.ms-cab-compressed application/x-cab")
	add(famXz, "application/x-xz")
	add(famBzip2, "application/x-bzip2 application/x-bzip")
	add(famZstd, "application/zstd")
	add(famDiskImage, "application/x-iso9660-image application/x-cd-image application/x-raw-disk-image "+
		"application/x-apple-diskimage application/x-vhd application/x-virtualbox-vhd application/x-virtualbox-vhdx")
	add(famLNK, "application/x-ms-shortcut")
	add(famURL, "application/x-mswinurl application/internet-shortcut application/x-url")
	add(famDeb, "application/vnd.debian.binary-package application/x-debian-package application/x-deb")
	add(famRPM, "application/x-rpm application/x-redhat-package-manager")
	add(famAppx|famZip, "application/vnd.ms-appx application/msix application/appx application/vnd.ms-appx.bundle")
	add(famJava, "application/java-vm application/x-java-class application/java")
	add(famOneNote, "application/onenote application/msonenote")
	add(famCHM, "application/vnd.ms-htmlhelp application/x-chm")
	add(famHTA|famText, "application/hta")
	add(famText, "application/json application/xml application/javascript application/x-javascript "+
		"application/xhtml+xml application/ecmascript")
	return m
}()

// claimFam returns the families a claimed Content-Type names (0 for
// none or unknown). Parameters and case are ignored.
func claimFam(claimed string) fam {
	var buf [96]byte
	b := claimType(claimed, &buf)
	if b == nil {
		return 0
	}
	if f, ok := claimFams[string(b)]; ok {
		return f
	}
	switch {
	case hasPrefix(b, "image/"):
		return famImage
	case hasPrefix(b, "audio/"):
		return famAudio
	case hasPrefix(b, "video/"):
		return famVideo
	case hasPrefix(b, "text/"):
		return famText
	case hasPrefix(b, "application/vnd.openxmlformats-officedocument."),
		hasPrefix(b, "application/vnd.ms-") && bytes.Contains(b, []byte("macroenabled")):
		return famOOXML | famZip
	case hasPrefix(b, odfPrefix):
		return famODF | famZip
	}
	return 0
}

// claimType is a claimed Content-Type without parameters, lower case,
// in buf (nil when empty or longer than buf): no allocation per file.
func claimType(claimed string, buf *[96]byte) []byte {
	if i := strings.IndexByte(claimed, ';'); i >= 0 {
		claimed = claimed[:i]
	}
	claimed = strings.TrimSpace(claimed)
	if claimed == "" || len(claimed) > len(buf) {
		return nil
	}
	b := buf[:len(claimed)]
	for i := range len(claimed) {
		c := claimed[i]
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		b[i] = c
	}
	return b
}

// mimeFam gives a non-candidate's families from its detected MIME, so a
// JPEG named .exe or served as text/html mismatches too.
func mimeFam(mime string, text bool) fam {
	switch {
	case strings.HasPrefix(mime, "image/"):
		return famImage
	case strings.HasPrefix(mime, "audio/"):
		return famAudio
	case strings.HasPrefix(mime, "video/"):
		return famVideo
	case text:
		return famText
	}
	return 0
}

// mismatch: the name or the claim says a family the content is not.
func mismatch(content fam, ext extKey, hasExt bool, claimed string) bool {
	if content == 0 {
		return false
	}
	if hasExt {
		if f := extFams[ext]; f != 0 && f&content == 0 {
			return true
		}
	}
	if f := claimFam(claimed); f != 0 && f&content == 0 {
		return true
	}
	return false
}
