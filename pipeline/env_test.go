package pipeline_test

import (
	"bytes"
	"strconv"

	"github.com/msgmigrate/msgmigrate/job"
)

func loadWithEnv(h *harness, env map[string]string) (*job.Job, error) {
	return job.Load(h.job, nil, func(k string) (string, bool) { v, ok := env[k]; return v, ok })
}

func bytesContains(b, sub []byte) bool { return bytes.Contains(b, sub) }

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
