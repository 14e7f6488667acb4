package files

import (
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/edgesensor/edgesensor/userspace/files/filetype"
	"github.com/edgesensor/edgesensor/userspace/setting"
)

// Defaults of the [files] table.
const (
	DefaultSpoolLimit   = setting.ByteSize(1 << 30)
	DefaultFlowIdle     = setting.Duration(2 * time.Minute)
	DefaultFlowLifetime = setting.Duration(6 * time.Hour)
	DefaultMaxFlows     = 65536
	DefaultReasmBuffer  = setting.ByteSize(4 << 20)
	DefaultReasmMemory  = setting.ByteSize(512 << 20)
	DefaultMaxDecomp    = setting.ByteSize(256 << 20)
	DefaultMaxRatio     = 1000
	DefaultImageScan    = setting.ByteSize(16 << 20)
	DefaultRangeFiles   = 256
	DefaultRangePieces  = 4096
	DefaultRangeHeld    = setting.ByteSize(256 << 20)
	DefaultRangeIdle    = setting.Duration(2 * time.Minute)
)

// Settings is the [files] table: which files of the stream class are
// reconstructed, and the limits of doing so.
type Settings struct {
	// Categories selects the candidates reported: "executable",
	// "document", "archive", "script", "disk_image", "shortcut",
	// "package", "java".
	Categories []string `toml:"categories"`
	// SpoolDir holds candidate files while they are analysed; "" is a
	// directory "edgesensor-spool" in the system's temp directory.
	SpoolDir string `toml:"spool_dir"`
	// SpoolLimit bounds the bytes spooled at once, over all files; a file
	// that does not fit is still hashed, not spooled (counted).
	SpoolLimit setting.ByteSize `toml:"spool_limit"`
	// Hashes are the digests of each whole file: "sha256" always, and
	// "sha1" and "md5" unless left out.
	Hashes []string `toml:"hashes"`
	// Uploads also reconstructs HTTP request bodies (POST, PUT).
	Uploads bool `toml:"uploads"`
	// FlowIdle ends a file flow with no packet for this long;
	// FlowLifetime ends one that has lasted this long, however active.
	FlowIdle     setting.Duration `toml:"flow_idle"`
	FlowLifetime setting.Duration `toml:"flow_lifetime"`
	// MaxFlows bounds the file flows followed at once (all workers).
	MaxFlows int `toml:"max_flows"`
	// ReassemblyBuffer bounds the out-of-order bytes held per direction;
	// ReassemblyMemory bounds them over all flows.
	ReassemblyBuffer setting.ByteSize `toml:"reassembly_buffer"`
	ReassemblyMemory setting.ByteSize `toml:"reassembly_memory"`
	// MaxDecompressed and MaxRatio bound Content-Encoding decoding of one
	// body: past either the body is cut and flagged as a bomb.
	MaxDecompressed setting.ByteSize `toml:"max_decompressed"`
	MaxRatio        int              `toml:"max_ratio"`
	// ImageScanLimit: pictures (JPEG, PNG, GIF, BMP, WebP, TIFF, ICO,
	// HEIC/AVIF) up to this size are read whole, and reported only when
	// a payload follows their end or a zip opens from their end
	// (polyglots); 0 turns it off (pictures are skipped as before).
	ImageScanLimit setting.ByteSize `toml:"image_scan_limit"`
	// MaxSize is the largest file reconstructed per category; a larger
	// one is let through, reported as oversize (incomplete) and counted.
	MaxSize CategorySizes `toml:"max_size"`
	// Retain keeps whole files of a category in a directory (named by
	// SHA-256) instead of deleting them after analysis; "" keeps none.
	Retain CategoryDirs `toml:"retain"`
	// RetainMinScore keeps only files scoring at least this (0: all);
	// RetainFor deletes retained files after this long (0: never).
	RetainMinScore int               `toml:"retain_min_score"`
	RetainFor      CategoryDurations `toml:"retain_for"`
	// HTTP ranges fetched out of order, overlapping or over several
	// connections (download managers) are joined into one file (see
	// rangejoin.go). RangeFiles bounds the files waiting for their
	// pieces (0 joins only ranges fetched in order on one connection);
	// RangePieces the pieces of one file; RangeHeld the bytes held
	// (spooled) ahead of a file's first missing byte, over all files;
	// RangeIdle ends a file none of whose pieces came for this long.
	RangeFiles  int              `toml:"range_files"`
	RangePieces int              `toml:"range_pieces"`
	RangeHeld   setting.ByteSize `toml:"range_held"`
	RangeIdle   setting.Duration `toml:"range_idle"`
}

// CategoryDurations is a duration per file category.
type CategoryDurations struct {
	Executable setting.Duration `toml:"executable"`
	Document   setting.Duration `toml:"document"`
	Archive    setting.Duration `toml:"archive"`
	Script     setting.Duration `toml:"script"`
	DiskImage  setting.Duration `toml:"disk_image"`
	Shortcut   setting.Duration `toml:"shortcut"`
	Package    setting.Duration `toml:"package"`
	Java       setting.Duration `toml:"java"`
}

// CategorySizes is a size per file category.
type CategorySizes struct {
	Executable setting.ByteSize `toml:"executable"`
	Document   setting.ByteSize `toml:"document"`
	Archive    setting.ByteSize `toml:"archive"`
	Script     setting.ByteSize `toml:"script"`
	DiskImage  setting.ByteSize `toml:"disk_image"`
	Shortcut   setting.ByteSize `toml:"shortcut"`
	Package    setting.ByteSize `toml:"package"`
	Java       setting.ByteSize `toml:"java"`
}

// CategoryDirs is a directory per file category.
type CategoryDirs struct {
	Executable string `toml:"executable"`
	Document   string `toml:"document"`
	Archive    string `toml:"archive"`
	Script     string `toml:"script"`
	DiskImage  string `toml:"disk_image"`
	Shortcut   string `toml:"shortcut"`
	Package    string `toml:"package"`
	Java       string `toml:"java"`
}

// perCategory is one category's settings, read off the three tables.
type perCategory struct {
	cat       filetype.Category
	maxSize   setting.ByteSize
	retain    string
	retainFor setting.Duration
}

// perCategory lists every category's settings, in category order.
func (s *Settings) perCategory() []perCategory {
	m, r, f := &s.MaxSize, &s.Retain, &s.RetainFor
	return []perCategory{
		{filetype.Executable, m.Executable, r.Executable, f.Executable},
		{filetype.Document, m.Document, r.Document, f.Document},
		{filetype.Archive, m.Archive, r.Archive, f.Archive},
		{filetype.Script, m.Script, r.Script, f.Script},
		{filetype.DiskImage, m.DiskImage, r.DiskImage, f.DiskImage},
		{filetype.Shortcut, m.Shortcut, r.Shortcut, f.Shortcut},
		{filetype.Package, m.Package, r.Package, f.Package},
		{filetype.Java, m.Java, r.Java, f.Java},
	}
}

// DefaultSettings is the [files] table of the shipped sensor.toml.
func DefaultSettings() Settings {
	return Settings{
		Categories:       allCategories(),
		Hashes:           []string{"sha256", "sha1", "md5"},
		SpoolLimit:       DefaultSpoolLimit,
		FlowIdle:         DefaultFlowIdle,
		FlowLifetime:     DefaultFlowLifetime,
		MaxFlows:         DefaultMaxFlows,
		ReassemblyBuffer: DefaultReasmBuffer,
		ReassemblyMemory: DefaultReasmMemory,
		MaxDecompressed:  DefaultMaxDecomp,
		MaxRatio:         DefaultMaxRatio,
		ImageScanLimit:   DefaultImageScan,
		RangeFiles:       DefaultRangeFiles,
		RangePieces:      DefaultRangePieces,
		RangeHeld:        DefaultRangeHeld,
		RangeIdle:        DefaultRangeIdle,
		MaxSize: CategorySizes{
			Executable: 128 << 20,
			Document:   64 << 20,
			Archive:    256 << 20,
			Script:     8 << 20,
			DiskImage:  1 << 30,
			Shortcut:   1 << 20,
			Package:    256 << 20,
			Java:       64 << 20,
		},
	}
}

func allCategories() []string {
	var out []string
	for _, c := range filetype.Categories() {
		out = append(out, c.String())
	}
	return out
}

// Validate checks the [files] table, found at key.
func (s *Settings) Validate(key string, p *setting.Problems) {
	seen := map[string]bool{}
	for _, name := range s.Categories {
		// The exact event name only: Config selects by it.
		if c, err := filetype.ParseCategory(name); err != nil || c.String() != name {
			p.Add(key+".categories", "%q is not a category; use any of %s", name, filetype.CategoryNames())
		}
		if seen[name] {
			p.Add(key+".categories", "%q is listed twice", name)
		}
		seen[name] = true
	}
	seenHash := map[string]bool{}
	for _, h := range s.Hashes {
		switch h {
		case "sha256", "sha1", "md5":
		default:
			p.Add(key+".hashes", "%q is not a digest; use \"sha256\", \"sha1\" or \"md5\"", h)
		}
		seenHash[h] = true
	}
	if !seenHash["sha256"] {
		p.Add(key+".hashes", "must include \"sha256\" (intel, retention and the SIEM key files by it)")
	}
	if s.SpoolDir != "" && !filepath.IsAbs(s.SpoolDir) {
		p.Add(key+".spool_dir", "%q must be an absolute path (or \"\" for the system temp directory)", s.SpoolDir)
	}
	if s.SpoolLimit < 1<<20 {
		p.Add(key+".spool_limit", "%s is too small; use at least 1MiB (default %s)", s.SpoolLimit, DefaultSpoolLimit)
	}
	if d := time.Duration(s.FlowIdle); d < time.Second || d > 24*time.Hour {
		p.Add(key+".flow_idle", "%s is out of range; use 1s to 24h (default %s)", d, time.Duration(DefaultFlowIdle))
	}
	if d := time.Duration(s.FlowLifetime); d < time.Minute || d > 7*24*time.Hour || d < time.Duration(s.FlowIdle) {
		p.Add(key+".flow_lifetime", "%s is out of range; use 1m to 168h, and at least %s.flow_idle (default %s)", d, key, time.Duration(DefaultFlowLifetime))
	}
	if s.MaxFlows < 64 || s.MaxFlows > 1<<22 {
		p.Add(key+".max_flows", "%d is out of range; use 64 to 4194304 (default %d)", s.MaxFlows, DefaultMaxFlows)
	}
	if s.ReassemblyBuffer < 16<<10 || s.ReassemblyBuffer > 64<<20 {
		p.Add(key+".reassembly_buffer", "%s is out of range; use 16KiB to 64MiB (default %s)", s.ReassemblyBuffer, DefaultReasmBuffer)
	}
	if s.ReassemblyMemory < s.ReassemblyBuffer {
		p.Add(key+".reassembly_memory", "%s is less than %s.reassembly_buffer (%s); raise it (default %s)", s.ReassemblyMemory, key, s.ReassemblyBuffer, DefaultReasmMemory)
	}
	if s.MaxDecompressed < 1<<20 {
		p.Add(key+".max_decompressed", "%s is too small; use at least 1MiB (default %s)", s.MaxDecompressed, DefaultMaxDecomp)
	}
	if s.MaxRatio < 10 || s.MaxRatio > 1000000 {
		p.Add(key+".max_ratio", "%d is out of range; use 10 to 1000000 (default %d)", s.MaxRatio, DefaultMaxRatio)
	}
	if s.RangeFiles < 0 || s.RangeFiles > 65536 {
		p.Add(key+".range_files", "%d is out of range; use 0 (join only ranges in order on one connection) to 65536 (default %d)", s.RangeFiles, DefaultRangeFiles)
	}
	if s.RangePieces < 2 || s.RangePieces > 65536 {
		p.Add(key+".range_pieces", "%d is out of range; use 2 to 65536 (default %d)", s.RangePieces, DefaultRangePieces)
	}
	// (The spool's bytes bound it too: files.spool_limit.)
	if s.RangeHeld < 1<<20 || s.RangeHeld > 64<<30 {
		p.Add(key+".range_held", "%s is out of range; use 1MiB to 64GiB (default %s)", s.RangeHeld, DefaultRangeHeld)
	}
	if d := time.Duration(s.RangeIdle); d < time.Second || d > 24*time.Hour {
		p.Add(key+".range_idle", "%s is out of range; use 1s to 24h (default %s)", d, time.Duration(DefaultRangeIdle))
	}
	if s.ImageScanLimit != 0 && (s.ImageScanLimit < 64<<10 || s.ImageScanLimit > 1<<30) {
		p.Add(key+".image_scan_limit", "%s is out of range; use 0 (off) or 64KiB to 1GiB (default %s)", s.ImageScanLimit, DefaultImageScan)
	}
	for _, c := range s.perCategory() {
		if c.maxSize < 4<<10 || c.maxSize > 16<<30 {
			p.Add(key+".max_size."+c.cat.String(), "%s is out of range; use 4KiB to 16GiB", c.maxSize)
		}
	}
	for _, r := range s.retainDirs() {
		if r.dir != "" && !filepath.IsAbs(r.dir) {
			p.Add(key+".retain."+r.cat, "%q must be an absolute directory path (or \"\" to keep no files)", r.dir)
		}
	}
	if s.RetainMinScore < 0 || s.RetainMinScore > 10 {
		p.Add(key+".retain_min_score", "%d is out of range; use 0 (every whole file) to 10", s.RetainMinScore)
	}
	for _, c := range s.perCategory() {
		if c.retainFor != 0 && time.Duration(c.retainFor) < time.Minute {
			p.Add(key+".retain_for."+c.cat.String(), "%s is too short; use at least 1m, or 0 to keep retained files until removed by hand", time.Duration(c.retainFor))
		}
	}
}

// Preflight checks what New will do with the table's directories: make
// the spool directory and the retention directories and write in them.
func (s *Settings) Preflight(key string, p *setting.Problems) {
	spoolKey := key + ".spool_dir"
	if s.SpoolDir == "" {
		spoolKey += " (the system temp directory)"
	}
	p.Fail(spoolKey, setting.CanCreateDir(s.SpoolPath()))
	for _, r := range s.retainDirs() {
		if r.dir != "" && slices.Contains(s.Categories, r.cat) {
			p.Fail(key+".retain."+r.cat, setting.CanCreateDir(r.dir))
		}
	}
}

func (s *Settings) retainDirs() []struct{ cat, dir string } {
	var out []struct{ cat, dir string }
	for _, c := range s.perCategory() {
		out = append(out, struct{ cat, dir string }{c.cat.String(), c.retain})
	}
	return out
}

// SpoolPath resolves SpoolDir.
func (s *Settings) SpoolPath() string {
	if s.SpoolDir != "" {
		return s.SpoolDir
	}
	return filepath.Join(os.TempDir(), "edgesensor-spool")
}

// Config is the part of the pipeline's config the [files] table gives;
// the caller adds what it takes from other tables (ports, the stream
// budget, the reassembly policy, the score threshold, the shards).
func (s *Settings) Config() Config {
	cats := map[filetype.Category]Category{}
	for _, c := range s.perCategory() {
		if slices.Contains(s.Categories, c.cat.String()) {
			cats[c.cat] = Category{int64(c.maxSize), c.retain, time.Duration(c.retainFor)}
		}
	}
	rangeFiles := s.RangeFiles
	if rangeFiles == 0 {
		rangeFiles = -1 // off: Config's zero is the default
	}
	imageScan := int64(s.ImageScanLimit)
	if imageScan == 0 {
		imageScan = -1 // off: Config's zero is the default
	}
	return Config{
		RangeFiles:       rangeFiles,
		RangePieces:      s.RangePieces,
		RangeHeld:        int64(s.RangeHeld),
		RangeIdle:        time.Duration(s.RangeIdle),
		Categories:       cats,
		SpoolDir:         s.SpoolPath(),
		SpoolLimit:       int64(s.SpoolLimit),
		Uploads:          s.Uploads,
		Idle:             time.Duration(s.FlowIdle),
		Lifetime:         time.Duration(s.FlowLifetime),
		MaxFlows:         s.MaxFlows,
		ReassemblyBuffer: int(s.ReassemblyBuffer),
		ReassemblyMemory: int64(s.ReassemblyMemory),
		MaxDecompressed:  int64(s.MaxDecompressed),
		MaxRatio:         s.MaxRatio,
		ImageScanLimit:   imageScan,
		NoSHA1:           !slices.Contains(s.Hashes, "sha1"),
		NoMD5:            !slices.Contains(s.Hashes, "md5"),
		RetainMinScore:   s.RetainMinScore,
	}
}
