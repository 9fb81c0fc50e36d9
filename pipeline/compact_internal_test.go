package pipeline

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	_ "github.com/msgmigrate/msgmigrate/extract/csv"
	"github.com/msgmigrate/msgmigrate/job"
	_ "github.com/msgmigrate/msgmigrate/load/mykaarma"
	"github.com/msgmigrate/msgmigrate/sandbox"
)

// Duplicates are found across the log merges a long run makes to keep its
// memory bounded, and a merge mid-run loses nothing.
func TestDuplicatesAcrossMidRunCompactions(t *testing.T) {
	old := compactEvery
	compactEvery = 50
	defer func() { compactEvery = old }()

	dir := t.TempDir()
	var b strings.Builder
	b.WriteString("id,department_uuid,customer_uuid,channel,direction,sent_at,created_at,subject,body_text,body_html,user_uuid,attachment_url\n")
	row := func(id int, body string) {
		fmt.Fprintf(&b, "%d,3f2b8c1e-6d4a-4f0e-9b7a-1c2d3e4f5a6b,0b1c2d3e-4f50-4617-8a9b-0c1d2e3f4a5b,sms,inbound,2024-03-01T09:15:00Z,,,%s,,,\n", id, body)
	}
	for i := range 600 {
		row(i, "first")
	}
	for i := range 600 {
		if i%2 == 0 {
			row(i, "first") // identical: skipped
		} else {
			row(i, "other") // other content: fails
		}
	}
	require.NoError(t, os.WriteFile(filepath.Join(dir, "m.csv"), []byte(b.String()), 0o644))
	jobPath := filepath.Join(dir, "job.yaml")
	require.NoError(t, os.WriteFile(jobPath, []byte("source: {kind: csv, path: m.csv}\nmapping: builtin:csv-to-mykaarma\nsink: {kind: mykaarma, url: sandbox, username: u, password: p, batch: {max_items: 7}}\n"), 0o644))
	j, err := job.Load(jobPath, nil, func(string) (string, bool) { return "", false })
	require.NoError(t, err)
	fake := sandbox.Start(sandbox.Config{MyKaarma: sandbox.MyKaarmaConfig{Username: "u", Password: "p"}})
	defer fake.Close()
	rep, err := Run(context.Background(), context.Background(), j, Options{URLs: fake, Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	require.NoError(t, err)
	assert.Equal(t, int64(600), rep.Loaded)
	assert.Equal(t, int64(300), rep.SkippedBy.Duplicate)
	assert.Equal(t, int64(300), rep.FailedBy.Load)
	assert.Equal(t, int64(600), fake.MyKaarma.Unique())
	for _, st := range fake.MyKaarma.All() {
		assert.Equal(t, 1, st.Times)
		assert.Contains(t, string(st.Payload), `"body":"first"`, "the first in the file wins")
	}
}
