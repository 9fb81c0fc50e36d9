package pipeline

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Report is what a run did. Every record read ends in exactly one of
// loaded, skipped, failed or unsent (an interrupted run's remainder, which
// the next run sends).
type Report struct {
	Job        string    `json:"job"`
	Command    string    `json:"command"`
	State      string    `json:"state"`           // completed | interrupted | failed
	Shard      string    `json:"shard,omitempty"` // "3/8" when sharded
	DryRun     bool      `json:"dry_run,omitempty"`
	StartedAt  time.Time `json:"started_at"`
	FinishedAt time.Time `json:"finished_at"`

	Read      int64 `json:"read"`
	Loaded    int64 `json:"loaded"`
	Skipped   int64 `json:"skipped"`
	Failed    int64 `json:"failed"`
	Unsent    int64 `json:"unsent"`
	WouldSend int64 `json:"would_send,omitempty"` // dry runs
	// OtherShards are records read that fall to other shards of the job.
	OtherShards int64 `json:"other_shards,omitempty"`

	SkippedBy SkippedBy `json:"skipped_by"`
	FailedBy  FailedBy  `json:"failed_by"`
	// FailedByCode: load failures by the vendor's code (at most 50 codes,
	// then "other"); STILL_read and STILL_map count the records of earlier
	// runs that a retry cannot fix (only a run that reads them correctly),
	// STILL_load the failed items a retry --code that matched nothing left.
	FailedByCode map[string]int64 `json:"failed_by_code,omitempty"`
	// FailedByRoute: load failures by route, its parts joined by "/" (at
	// most 50 routes, then "other"); status --by route reads every shard.
	FailedByRoute map[string]int64 `json:"failed_by_route,omitempty"`

	Requests      int64   `json:"requests"`
	Retried       int64   `json:"retried"`
	Throttled     int64   `json:"throttled"`
	Splits        int64   `json:"splits"`
	MeanBatchFill float64 `json:"mean_batch_fill"`

	DurationSeconds  float64 `json:"duration_seconds"`
	RecordsPerSecond float64 `json:"records_per_second"`
	PeakRSSBytes     int64   `json:"peak_rss_bytes"`
	// Changed lists the first records changed since they were loaded (not
	// resent); ChangedListed of SkippedBy.Changed are listed.
	Changed       []Ref  `json:"changed,omitempty"`
	ChangedListed int    `json:"changed_listed,omitempty"`
	LastOrigin    string `json:"last_origin,omitempty"`
	// StoppedBy says why a run stopped before the end, resumably (an
	// outage that outlasted its bound).
	StoppedBy string `json:"stopped_by,omitempty"`
	// Warnings are what a user should know of the run besides its counts.
	Warnings []string `json:"warnings,omitempty"`
	// Hints are what the source noticed about its input (an encoding that
	// looks wrong), once each.
	Hints        []string `json:"hints,omitempty"`
	FailuresFile string   `json:"failures_file,omitempty"`
	LedgerFile   string   `json:"ledger_file,omitempty"`
	ReportFile   string   `json:"-"`
}

// SkippedBy says why records were skipped.
type SkippedBy struct {
	Rule          int64 `json:"rule"`           // the mapping's where: rule
	AlreadyLoaded int64 `json:"already_loaded"` // loaded by an earlier run
	Duplicate     int64 `json:"duplicate"`      // the same key and content earlier in this run
	Changed       int64 `json:"changed"`        // loaded earlier with other content: not resent
	// Source: records the source left out on purpose, by its reason
	// (deleted messages, messages a write-back must not touch).
	Source map[string]int64 `json:"source,omitempty"`
	// Sink: items the sink left alone by its own rule, as the vendor
	// shows them now (a write-back never marks a pending message sent).
	Sink map[string]int64 `json:"sink,omitempty"`
}

// FailedBy says at which stage records failed.
type FailedBy struct {
	Read int64 `json:"read"`
	Map  int64 `json:"map"`
	Load int64 `json:"load"`
}

// Ref names a record.
type Ref struct {
	Key    string `json:"key"`
	Origin string `json:"origin"`
}

// Write saves the report as indented JSON.
func (r *Report) Write(path string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

// PeakRSS returns the process's peak resident set size in bytes (Linux), or 0.
func PeakRSS() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			f := strings.Fields(rest)
			if len(f) >= 1 {
				kb, _ := strconv.ParseInt(f[0], 10, 64)
				return kb * 1024
			}
		}
	}
	return 0
}
