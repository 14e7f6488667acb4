#!/bin/sh
# Regenerates the document fixtures in ../ with LibreOffice (Debian:
# libreoffice-writer-nogui, libreoffice-calc-nogui) from the flat ODF
# sources here. The tests only read the outputs. Checked with pdfinfo,
# unzip and python3-olefile.
set -eu
cd "$(dirname "$0")"
out=$(cd .. && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
lo() { soffice -env:UserInstallation=file://$tmp/profile --headless --convert-to "$@" --outdir "$tmp" >/dev/null; }
lo odt memo.fodt
lo docx memo.fodt
lo doc memo.fodt
lo pdf memo.fodt
cp memo.fodt "$tmp/memo-a.fodt"
lo 'pdf:writer_pdf_Export:{"SelectPdfVersion":{"type":"long","value":"1"}}' "$tmp/memo-a.fodt"
lo xlsx sheet.fods
lo xls sheet.fods
for f in memo.odt memo.docx memo.doc memo.pdf memo-a.pdf sheet.xlsx sheet.xls; do cp "$tmp/$f" "$out/lo-$f"; done
# The Info dictionary inside an object stream, behind a cross-reference
# stream (PDF 1.5), as qpdf (Debian: qpdf) rewrites it.
qpdf --object-streams=generate "$out/lo-memo.pdf" "$out/lo-memo-objstm.pdf"
