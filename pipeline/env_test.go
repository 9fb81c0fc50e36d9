package pipeline_test

import (
	"strings"

	"github.com/msgmigrate/msgmigrate/job"
)

func loadWithEnv(h *harness, env map[string]string) (*job.Job, error) {
	return job.Load(h.job, nil, func(k string) (string, bool) { v, ok := env[k]; return v, ok })
}

func replaceAll(s, old, new string) string { return strings.ReplaceAll(s, old, new) }

func joinLines(lines []string) string { return strings.Join(lines, "\n") + "\n" }
