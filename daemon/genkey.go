package daemon

// This file holds `edgesensor genkey`: a new anonymisation key file.

import (
	"fmt"
	"io"

	"github.com/edgesensor/edgesensor/userspace/export/anon"
)

// WriteNewKey writes a new random anonymisation key to path (mode 0600;
// an existing file is not overwritten), reads it back and tells w its key
// id and where it goes (privacy.key_file).
func WriteNewKey(w io.Writer, path string) error {
	if err := anon.GenerateKeyFile(path); err != nil {
		return err
	}
	k, err := anon.LoadKey(path)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "wrote %s (key id %s); point privacy.key_file at it\n", path, k.ID())
	return nil
}
