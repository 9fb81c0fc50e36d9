// Package mappings holds the built-in mapping files, embedded in the binary.
// Each is named by its file name without .yaml and used as builtin:NAME.
package mappings

import (
	"embed"
	"fmt"
	"io/fs"
	"sort"
	"strings"
)

//go:embed *.yaml
var files embed.FS

// Prefix marks a built-in mapping in a job file.
const Prefix = "builtin:"

// Read returns a built-in mapping's text.
func Read(name string) ([]byte, error) {
	b, err := files.ReadFile(name + ".yaml")
	if err != nil {
		return nil, fmt.Errorf("unknown built-in mapping %q (known: %s)", name, strings.Join(Names(), ", "))
	}
	return b, nil
}

// Names lists the built-in mappings.
func Names() []string {
	entries, _ := fs.ReadDir(files, ".")
	var out []string
	for _, e := range entries {
		out = append(out, strings.TrimSuffix(e.Name(), ".yaml"))
	}
	sort.Strings(out)
	return out
}
