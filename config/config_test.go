package config

import (
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
)

// Paths in a job file are the job file's, wherever the run starts.
func TestResolve(t *testing.T) {
	abs, err := filepath.Abs("elsewhere.csv")
	assert.NoError(t, err)
	cases := map[string]struct{ dir, path, want string }{
		"relative": {"jobs", "data/in.csv", filepath.Join("jobs", "data", "in.csv")},
		"parent":   {"jobs/x", "../in.csv", filepath.Join("jobs", "in.csv")},
		"absolute": {"jobs", abs, abs},
		"no dir":   {"", "in.csv", "in.csv"},
		"no path":  {"jobs", "", ""},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			assert.Equal(t, c.want, Resolve(c.dir, c.path))
			assert.Equal(t, c.want, Section{Dir: c.dir}.Path(c.path))
		})
	}
}
