// Command craftgen writes the adversarial captures of internal/craft:
// NAME.pcap and NAME.truth.json for every case, for the live lab,
// tcpreplay and manual use.
//
//	go run ./internal/lab/craftgen -out DIR [-cases REGEXP] [-floods] [-flood-size full|small] [-seed N]
//
// Flood cases are big (hundreds of MB): they are written only with
// -floods, or when -cases is given and names them.
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"

	"github.com/edgesensor/edgesensor/internal/craft"
)

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "craftgen:", err)
		os.Exit(1)
	}
}

func run(args []string, out io.Writer) error {
	fs := flag.NewFlagSet("craftgen", flag.ContinueOnError)
	dir := fs.String("out", "", "directory to write NAME.pcap and NAME.truth.json to (created)")
	pattern := fs.String("cases", "", "only the cases whose name matches this regular expression")
	floods := fs.Bool("floods", false, "write the flood cases too")
	size := fs.String("flood-size", "full", "flood sizes: full (issue 13's) or small")
	seed := fs.Uint64("seed", 1, "random seed: the same seed writes the same bytes")
	corpusDir := fs.String("corpus", "", "reference corpus (default: testdata/corpus of the module)")
	list := fs.Bool("list", false, "list the cases and exit")
	if err := fs.Parse(args); err != nil {
		return err
	}
	re, err := regexp.Compile(*pattern)
	if err != nil {
		return fmt.Errorf("-cases: %w", err)
	}
	opt := craft.Options{Seed: *seed, Flood: craft.FullFloods()}
	switch *size {
	case "full":
	case "small":
		opt.Flood = craft.SmallFloods()
	default:
		return fmt.Errorf("-flood-size %q: want full or small", *size)
	}
	var cases []craft.Case
	for _, c := range craft.Select(re) {
		if c.Flood && !*floods && *pattern == "" {
			continue
		}
		cases = append(cases, c)
	}
	if *list {
		for _, c := range cases {
			fmt.Fprintf(out, "%-36s %s\n", c.Name, c.What)
		}
		return nil
	}
	if *dir == "" {
		return fmt.Errorf("-out is required")
	}
	if len(cases) == 0 {
		return fmt.Errorf("no case matches %q", *pattern)
	}
	var corpus *craft.Corpus
	if *corpusDir != "" {
		corpus, err = craft.LoadCorpus(*corpusDir)
	} else {
		corpus, err = craft.DefaultCorpus()
	}
	if err != nil {
		return err
	}
	if err := os.MkdirAll(*dir, 0o755); err != nil {
		return fmt.Errorf("creating %s: %w", *dir, err)
	}
	for _, c := range cases {
		if _, err := c.WriteFiles(corpus, opt, *dir); err != nil {
			return err
		}
		st, err := os.Stat(filepath.Join(*dir, c.Name+".pcap"))
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "%-36s %10d bytes  %s\n", c.Name, st.Size(), c.What)
	}
	return nil
}
