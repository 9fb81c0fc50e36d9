package pipeline_test

import "github.com/msgmigrate/msgmigrate/job"

func loadWithEnv(h *harness, env map[string]string) (*job.Job, error) {
	return job.Load(h.job, nil, func(k string) (string, bool) { v, ok := env[k]; return v, ok })
}
