package files

import "time"

// applyMetadata puts what the file says of itself into the event: ECS
// file.pe.* and file.elf.*, and edgesensor.file.document.* for who made
// a PDF or an Office file.
func applyMetadata(ev *Event, d *FileDetails, f *file) {
	m := &f.metadata
	if pe := m.PE; pe != nil {
		ev.File.PE = &PE{
			Company:          pe.Company,
			Product:          pe.Product,
			OriginalFileName: pe.OriginalFileName,
			FileVersion:      pe.FileVersion,
			Description:      pe.Description,
			Architecture:     pe.Architecture,
			Imphash:          pe.Imphash,
		}
		if !pe.CompileTime.IsZero() {
			s := pe.CompileTime.UTC().Format(time.RFC3339)
			d.CompileTime = s
		}
	}
	if e := m.ELF; e != nil {
		ev.File.ELF = &ELF{Architecture: e.Architecture, Type: e.Type}
	}
	if p := m.PDF; p != nil {
		d.Document = &Document{Author: p.Author, Creator: p.Creator, Producer: p.Producer, Title: p.Title}
	}
	if o := m.Office; o != nil {
		d.Document = &Document{Author: o.Creator, LastAuthor: o.LastModifiedBy, Title: o.Title,
			Application: o.Application, Company: o.Company}
		d.Macros = o.Macros
	}
	if l := m.LNK; l != nil {
		d.Shortcut = &Shortcut{Target: l.Target, Arguments: l.Arguments, ArgsLength: l.ArgsLength,
			IconLocation: l.IconLocation, WorkingDir: l.WorkingDir}
	}
	if d.Document != nil && *d.Document == (Document{}) {
		d.Document = nil
	}
}
