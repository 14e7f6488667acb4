package analyzers

import (
	"fmt"
	"io"
	"path"
	"strings"

	"github.com/edgesensor/edgesensor/userspace/files/formats"
	"github.com/edgesensor/edgesensor/userspace/files/formats/fatfs"
	"github.com/edgesensor/edgesensor/userspace/files/formats/ntfsfs"
	"github.com/edgesensor/edgesensor/userspace/files/formats/partition"
	"github.com/edgesensor/edgesensor/userspace/files/formats/udffile"
	"github.com/edgesensor/edgesensor/userspace/files/formats/vhdfile"
	"github.com/edgesensor/edgesensor/userspace/verdict/score"
)

// volFile is a file of a volume, whatever its file system.
type volFile struct {
	path string
	size int64
	open func() io.Reader
	// unread: the content cannot be read (NTFS compression,
	// encryption, a reparse point): judged by its name only.
	unread bool
}

// maxVolumes is how many volumes of one image are walked: each costs
// the read of its FAT (up to fatfs.MaxFATBytes), and a table may list
// hundreds.
const maxVolumes = 8

// diskImage looks inside a disk image that is not an ISO: a UDF image
// (package udffile; ISO/UDF bridges are read as ISO, their UDF side too: image in carriers.go), the virtual
// disk of a VHD or VHDX (package vhdfile), or the file itself as a raw
// disk (an .img), then its partition table and the files of its FAT
// and NTFS volumes, each typed and examined like an ISO's files (the
// same archive.<category>_inside reasons). exFAT volumes (and others)
// are not walked: image.volume_not_walked says so. What made the look
// incomplete (a differencing disk without its parent, a VHDX log not
// replayed, blocks past the file's end, cut cluster chains) is told by
// image.incomplete, never silently.
func (a *run) diskImage(d *formats.Doc, name string, depth int) []score.Reason {
	if d.R == nil || d.Size <= 0 {
		return nil
	}
	x := &arch{a: a, name: name, depth: depth}
	var disk io.ReaderAt = d.R
	size, sector, what := d.Size, 512, "disk image"
	var gaps []string
	if u := udffile.Parse(d.R, d.Size); u != nil {
		return a.udf(x, d.R, u, nil)
	}
	v := vhdfile.Open(d.R, d.Size)
	if v != nil {
		disk, size, sector, what = v, v.Size, v.SectorSize, v.Kind.String()
		gaps = vhdGaps(v)
		if v.Differencing {
			gaps = append(gaps, "differencing disk: its parent's blocks are not here")
		}
		if v.LogPending {
			gaps = append(gaps, "VHDX log not replayed")
		}
	}
	t := partition.Read(disk, size, sector)
	if t == nil {
		if v == nil {
			return nil // a raw image of something else (a DMG...): not a disk this reads
		}
		if u := udffile.Parse(disk, size); u != nil { // a UDF volume without a table
			return a.udf(x, disk, u, nil)
		}
		x.add("image.volume_not_walked", 2, "%s: no partition table or known file system on its virtual disk: nothing inside was examined", name)
		return finishImage(x, what, gaps)
	}
	if t.Truncated || t.Dropped > 0 {
		gaps = append(gaps, fmt.Sprintf("partition table: %d volumes outside the disk, cut %v", t.Dropped, t.Truncated))
	}
	n, walked := 0, 0
	var fats []*fatfs.FS
	for _, p := range t.Parts {
		if x.stop {
			break
		}
		if walked >= maxVolumes {
			x.limit("volume count")
			break
		}
		var files []volFile
		var truncated bool
		vol := io.NewSectionReader(disk, p.Start, p.Size)
		switch p.FS {
		case "fat":
			fs := fatfs.Open(vol, p.Size)
			if fs == nil {
				x.add("image.volume_not_walked", 2, "%s: a FAT volume of %d bytes does not open: its files were not examined", name, p.Size)
				continue
			}
			for _, f := range fs.Files {
				files = append(files, volFile{f.Path, f.Size, func() io.Reader { return fs.Open(f) }, false})
			}
			truncated = fs.Truncated
			fats = append(fats, fs) // chains are followed as files are read: counted after
		case "ntfs":
			fs := ntfsfs.Open(vol, p.Size)
			if fs == nil {
				x.add("image.volume_not_walked", 2, "%s: an NTFS volume of %d bytes does not open: its files were not examined", name, p.Size)
				continue
			}
			for _, f := range fs.Files {
				files = append(files, volFile{f.Path, f.Size, func() io.Reader { return fs.Open(f) }, !f.Readable && f.Size > 0})
			}
			truncated = fs.Truncated
			if s := fs.Stats; s.Unreadable+s.AttrLists+s.CutRuns+s.BadRecords > 0 {
				gaps = append(gaps, fmt.Sprintf("NTFS volume: %d files compressed, encrypted or behind a reparse point (not read), %d with attribute lists, %d run lists cut, %d bad records",
					s.Unreadable, s.AttrLists, s.CutRuns, s.BadRecords))
			}
		default:
			if p.Reserved {
				continue // the Microsoft Reserved Partition: not a volume
			}
			fs := p.FS
			if fs == "" {
				fs = "unknown (" + p.Type + ")"
			}
			x.add("image.volume_not_walked", 2, "%s: a volume (%s) of %d bytes is not read: its files were not examined", name, fs, p.Size)
			continue
		}
		walked++
		if truncated {
			x.cut("image directory")
		}
		for _, f := range files {
			if x.stop {
				break
			}
			if n >= a.lim.MaxEntries {
				x.limit("entry count")
				break
			}
			n++
			if f.unread {
				// "compact /c" hides a payload's bytes from a reader of the
				// raw volume, not its name: Windows runs it all the same.
				if execName(f.path) {
					x.add("image.executable_unread", 7, "%s: holds %q (compressed, encrypted or behind a reparse point: content not read)", name, f.path)
				}
				continue
			}
			x.entry(path.Base(f.path), f.open(), f.size, -1)
		}
	}
	for _, fs := range fats {
		if fs.Stats.CutChains > 0 {
			gaps = append(gaps, fmt.Sprintf("FAT volume: %d cluster chains cut (%d loops)", fs.Stats.CutChains, fs.Stats.Loops))
		}
	}
	return finishImage(x, what, gaps)
}

// udf examines the files of a UDF image like an ISO's, but those whose
// first byte and size are in skip (already seen through a bridge's ISO
// 9660 side).
func (a *run) udf(x *arch, r io.ReaderAt, u *udffile.Image, skip map[[2]int64]bool) []score.Reason {
	if u.Unsupported {
		x.add("image.volume_not_walked", 2, "%s: a UDF volume with a metadata, sparable or virtual partition is not read: its files were not examined", x.name)
		return x.out
	}
	if u.Truncated {
		x.cut("image directory")
	}
	for i, f := range u.Files {
		if x.stop {
			break
		}
		if i >= a.lim.MaxEntries {
			x.limit("entry count")
			break
		}
		if len(f.Extents) > 0 && skip[[2]int64{f.Extents[0].Offset, f.Size}] {
			continue
		}
		x.entry(path.Base(f.Path), u.Open(r, f), f.Size, -1)
	}
	var gaps []string
	if u.Stats.BadTags > 0 || u.Stats.CutExtents > 0 {
		gaps = append(gaps, fmt.Sprintf("%d descriptors with a bad tag, %d files with extents not followed", u.Stats.BadTags, u.Stats.CutExtents))
	}
	return finishImage(x, "udf", gaps)
}

func vhdGaps(v *vhdfile.Disk) []string {
	var out []string
	s := v.Stats
	if s.BadBlocks > 0 || s.CutBlocks > 0 {
		out = append(out, fmt.Sprintf("%d blocks past the file's end, %d cut by it (read as zeros)", s.BadBlocks, s.CutBlocks))
	}
	if s.CutBAT || s.CutSize {
		out = append(out, "block table or size beyond the reader's bounds: the rest reads as zeros")
	}
	return out
}

func finishImage(x *arch, what string, gaps []string) []score.Reason {
	if len(gaps) > 0 {
		x.add("image.incomplete", 2, "%s (%s): not all of it was read: %s", x.name, what, strings.Join(gaps, "; "))
	}
	return dedup(x.out)
}
