package intel

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
)

// loadCSV reads a CSV file whose header row names the columns: Column
// (or the first column) holds the value, an optional "level" or
// "threat_level" column the entry's threat level (empty: none).
func (f *fileLoad) loadCSV() error {
	fh, err := os.Open(f.src.Path)
	if err != nil {
		return err
	}
	defer fh.Close()
	r := csv.NewReader(fh)
	r.Comment = '#'
	r.FieldsPerRecord = -1 // feeds have ragged rows; short rows are reported below
	r.ReuseRecord = true
	r.TrimLeadingSpace = true
	header, err := r.Read()
	if err == io.EOF {
		return nil // empty file: an empty list
	}
	if err != nil {
		return fmt.Errorf("header: %w", err)
	}
	valueCol, levelCol := -1, -1
	for i, h := range header {
		h = strings.ToLower(strings.TrimSpace(strings.TrimPrefix(h, "\ufeff")))
		switch {
		case f.src.Column != "" && h == strings.ToLower(f.src.Column):
			valueCol = i
		case h == "level" || h == "threat_level":
			levelCol = i
		}
	}
	if f.src.Column == "" {
		valueCol = 0
	}
	if valueCol < 0 {
		return fmt.Errorf("header has no column %q (columns: %s)", f.src.Column, strings.Join(header, ", "))
	}
	for {
		rec, err := r.Read()
		if err == io.EOF {
			return nil
		}
		var perr *csv.ParseError
		if errors.As(err, &perr) {
			// A quoting error spoils one record; the reader resumes after it.
			f.bad(perr.StartLine, perr.Err)
			continue
		}
		if err != nil {
			return err
		}
		line, _ := r.FieldPos(0) // valid: a record read without error has a field
		if valueCol >= len(rec) {
			f.bad(line, fmt.Errorf("%d fields, no column %d", len(rec), valueCol+1))
			continue
		}
		level := -1
		if levelCol >= 0 && levelCol < len(rec) && strings.TrimSpace(rec[levelCol]) != "" {
			if level, err = parseLevel([]byte(strings.TrimSpace(rec[levelCol]))); err != nil {
				f.bad(line, err)
				continue
			}
		}
		v := []byte(strings.TrimSpace(rec[valueCol]))
		if len(v) == 0 {
			f.bad(line, errors.New("empty value"))
			continue
		}
		if err := f.add(f.src.Kind, v, level); err != nil {
			f.bad(line, fmt.Errorf("%s %q: %w", f.src.Kind, clip(v), err))
		}
	}
}
