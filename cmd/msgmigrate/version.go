package main

import (
	"encoding/json"
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/spf13/cobra"
)

// buildInfo is what version prints.
type buildInfo struct {
	Version  string `json:"version"`
	Commit   string `json:"commit,omitempty"`
	Time     string `json:"commit_time,omitempty"`
	Modified bool   `json:"modified,omitempty"`
	Go       string `json:"go"`
}

// version and commit are set by the image's build (-ldflags -X
// main.version=… -X main.commit=…), where the source has no .git to stamp
// it; a build from a checkout stamps both itself.
var version, commit string

func readBuildInfo() (b buildInfo) {
	b = buildInfo{Version: "(devel)", Go: runtime.Version()}
	defer func() {
		if version != "" {
			b.Version = version
		}
		if commit != "" && b.Commit == "" {
			b.Commit = commit
		}
	}()
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return b
	}
	if v := bi.Main.Version; v != "" {
		b.Version = v
	}
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			b.Commit = s.Value
		case "vcs.time":
			b.Time = s.Value
		case "vcs.modified":
			b.Modified = s.Value == "true"
		}
	}
	return b
}

func versionCmd(g *globals) *cobra.Command {
	var asJSON bool
	c := &cobra.Command{
		Use:     "version",
		Short:   "Print msgmigrate's version, the commit it was built from, and the Go version",
		Example: "  msgmigrate version\n  msgmigrate version --json",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			b := readBuildInfo()
			if asJSON {
				return json.NewEncoder(g.stdout).Encode(b)
			}
			fmt.Fprintf(g.stdout, "msgmigrate %s", b.Version)
			if b.Commit != "" {
				fmt.Fprintf(g.stdout, " (commit %.12s", b.Commit)
				if b.Time != "" {
					fmt.Fprintf(g.stdout, ", %s", b.Time)
				}
				if b.Modified {
					fmt.Fprint(g.stdout, ", with local changes")
				}
				fmt.Fprint(g.stdout, ")")
			}
			fmt.Fprintf(g.stdout, " %s\n", b.Go)
			return nil
		},
	}
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return c
}
