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

// testSuffix ends a built-in mapping's test cases: NAME.test.yaml.
const testSuffix = ".test.yaml"

// Read returns a built-in mapping's text.
func Read(name string) ([]byte, error) {
	b, err := files.ReadFile(name + ".yaml")
	if err != nil || strings.HasSuffix(name+".yaml", testSuffix) {
		return nil, fmt.Errorf("unknown built-in mapping %q (known: %s)", name, strings.Join(Names(), ", "))
	}
	return b, nil
}

// Tests returns a built-in mapping's test cases (NAME.test.yaml), if it
// has any.
func Tests(name string) ([]byte, bool) {
	b, err := files.ReadFile(name + testSuffix)
	return b, err == nil
}

// Names lists the built-in mappings (not their test cases).
func Names() []string {
	entries, _ := fs.ReadDir(files, ".")
	var out []string
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), testSuffix) {
			out = append(out, strings.TrimSuffix(e.Name(), ".yaml"))
		}
	}
	sort.Strings(out)
	return out
}
