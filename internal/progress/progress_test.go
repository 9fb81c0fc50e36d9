package progress

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// lineTests are the situations a user sees, each drawn at 80, 120 and 160
// columns into testdata/lines.golden.
var lineTests = []struct {
	name string
	s    Snapshot
	// want and not are what must (not) be on the line at every width.
	want, not []string
}{
	{
		name: "unknown total (a vendor listing)",
		s:    Snapshot{Elapsed: 95 * time.Second, Read: 5400, ReadShare: -1, Done: 5000, Loaded: 4990, Skipped: 7, Failed: 3, Rate: 412, InFlight: 8},
		want: []string{"5000 done", "412 rec/s", "failed 3"},
		not:  []string{"%", "ETA", "~"},
	},
	{
		name: "estimated from bytes, not settled yet",
		s: Snapshot{Elapsed: 2 * time.Second, Read: 3000, ReadShare: 0.01, Done: 1000, Loaded: 1000,
			Expected: 300000, Estimated: true, Rate: 500, InFlight: 8},
		want: []string{"~0%", "1000/~300000", "500 rec/s"},
		not:  []string{"ETA"},
	},
	{
		name: "estimated and settled",
		s: Snapshot{Elapsed: 150 * time.Second, Read: 500000, ReadShare: 0.5, Done: 412345, Loaded: 412000, Skipped: 300, Failed: 45,
			Expected: 1000321, Estimated: true, Rate: 3412, ETA: 172 * time.Second, HasETA: true, InFlight: 8, Retries: 4, Throttled: 2},
		want: []string{"~41%", "412345/~1000321", "3412 rec/s", "ETA 2m52s", "failed 45"},
	},
	{
		name: "trial with --limit",
		s: Snapshot{Elapsed: 10 * time.Second, Read: 20000, ReadShare: 0.07, ReadEnded: true, Done: 6000, Loaded: 6000,
			Expected: 20000, Rate: 600, ETA: 23 * time.Second, HasETA: true, InFlight: 8},
		want: []string{"30%", "6000/20000", "ETA 23s"},
		not:  []string{"~", "2h"},
	},
	{
		name: "throttled: every worker paused",
		s: Snapshot{Elapsed: 4 * time.Minute, Read: 90000, ReadShare: 0.3, Done: 80000, Loaded: 80000,
			Expected: 300000, Estimated: true, Rate: 120, InFlight: 0, Throttled: 17, Paused: 12 * time.Second},
		want: []string{"429: paused 12s"},
		not:  []string{"ETA"},
	},
	{
		name: "outage: one request probes",
		s: Snapshot{Elapsed: 7 * time.Minute, Read: 90000, ReadShare: 0.3, Done: 80000, Loaded: 79000, Failed: 1000,
			Expected: 300000, Estimated: true, InFlight: 1, Retries: 230, Outage: true},
		want: []string{"OUTAGE", "0 rec/s"},
	},
	{
		name: "reading ended long ago, loading goes on",
		s: Snapshot{Elapsed: 270 * time.Second, Read: 1000000, ReadShare: 1, ReadEnded: true, Done: 640000, Loaded: 639000, Skipped: 1000,
			Expected: 1000000, Rate: 2400, ETA: 150 * time.Second, HasETA: true, InFlight: 8},
		want: []string{"64%", "640000/1000000", "ETA 2m30s"},
	},
	{
		name: "final line of a completed run",
		s: Snapshot{Elapsed: 300 * time.Second, Read: 1000000, ReadShare: 1, ReadEnded: true, Done: 1000000, Loaded: 998000, Skipped: 1500, Failed: 500,
			Expected: 1000000, Rate: 2400, InFlight: 0, Retries: 12, Final: true},
		want: []string{"100% 1000000/1000000", "loaded 998000", "skipped 1500", "failed 500"},
		not:  []string{"rec/s", "ETA", "unsent", "~"},
	},
	{
		name: "final line of an interrupted run",
		s: Snapshot{Elapsed: 300 * time.Second, Read: 412345, ReadShare: 0.41, Done: 412000, Loaded: 412000,
			Expected: 1000000, Estimated: true, Final: true},
		want: []string{"41% 412000/~1000000", "unsent 345"},
		not:  []string{"ETA"},
	},
	{
		name: "final line of a dry run",
		s: Snapshot{Read: 5000, ReadShare: 1, ReadEnded: true, Done: 5000, Skipped: 10, Failed: 2, WouldSend: 4988,
			Expected: 5000, Final: true},
		want: []string{"100% 5000/5000", "loaded 0", "skipped 10", "failed 2", "would send 4988"},
	},
	{
		name: "final line of a shard",
		s: Snapshot{Read: 5000, ReadShare: 1, ReadEnded: true, Done: 5000, Loaded: 1250, OtherShards: 3750,
			Expected: 5000, Final: true},
		want: []string{"100% 5000/5000", "loaded 1250", "3750 for other shards"},
	},
}

func TestLine(t *testing.T) {
	var golden strings.Builder
	for _, tt := range lineTests {
		fmt.Fprintf(&golden, "# %s\n", tt.name)
		for _, width := range []int{80, 120, 160} {
			t.Run(fmt.Sprintf("%s/%d", tt.name, width), func(t *testing.T) {
				line := Line(tt.s, width)
				fmt.Fprintf(&golden, "%3d |%s|\n", width, line)
				assert.LessOrEqual(t, utf8.RuneCountInString(line), width-1, "the line never reaches the last column")
				for _, w := range tt.want {
					assert.Contains(t, line, w)
				}
				for _, n := range tt.not {
					assert.NotContains(t, line, n)
				}
			})
		}
	}
	path := filepath.Join("testdata", "lines.golden")
	if *update {
		require.NoError(t, os.MkdirAll("testdata", 0o755))
		require.NoError(t, os.WriteFile(path, []byte(golden.String()), 0o644))
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err, "go test ./internal/progress -update writes it")
	assert.Equal(t, string(want), golden.String())
}

// Narrower lines leave out the less important fields first: what a wide
// line shows beyond a narrow one is always its least important fields.
func TestLineDropsLeastImportantFirst(t *testing.T) {
	s := lineTests[2].s
	s.Paused = 3 * time.Second
	wide := Line(s, 400)
	for _, f := range []string{"[", "~41%", "412345/~1000321", "3412 rec/s", "429: paused 3s", "ETA 2m52s", "failed 45", "skipped 300",
		"in flight 8", "read 500000 (50%)", "retries 4", "429s 2", "2m30s"} {
		require.Contains(t, wide, f)
	}
	cases := []struct {
		width int
		keeps []string
		drops []string
	}{
		{160, []string{"2m30s"}, []string{"["}},
		{80, []string{"412345/~1000321", "3412 rec/s", "429: paused 3s", "ETA 2m52s", "failed 45"}, []string{"read", "retries", "429s 2"}},
		{40, []string{"~41% 412345/~1000321 · 3412 rec/s"}, []string{"ETA", "failed"}},
		{12, []string{"412345"}, []string{"/", "rec/s"}},
		{6, []string{}, []string{"4"}},
	}
	for _, c := range cases {
		line := Line(s, c.width)
		for _, k := range c.keeps {
			assert.Contains(t, line, k, "at %d: %q", c.width, line)
		}
		for _, d := range c.drops {
			assert.NotContains(t, line, d, "at %d: %q", c.width, line)
		}
	}
}

func FuzzLine(f *testing.F) {
	f.Add(int64(412345), int64(1000000), int64(45), 3412.5, int64(172), int64(12), true, false, true, 80)
	f.Add(int64(0), int64(0), int64(0), 0.0, int64(0), int64(0), false, true, false, 1)
	f.Add(int64(-5), int64(1<<62), int64(1<<62), 1e300, int64(1<<40), int64(-1), true, true, true, 3)
	f.Fuzz(func(t *testing.T, done, expected, failed int64, rate float64, etaSecs, pausedSecs int64, estimated, outage, final bool, width int) {
		if width > 1000 || width < -10 {
			return
		}
		s := Snapshot{Read: done + failed, ReadShare: 0.5, Done: done, Failed: failed, Loaded: done, Expected: expected, Estimated: estimated,
			Rate: rate, ETA: time.Duration(etaSecs) * time.Second, HasETA: etaSecs > 0, Paused: time.Duration(pausedSecs) * time.Second,
			Outage: outage, Final: final, Retries: failed, Throttled: done}
		line := Line(s, width)
		assert.LessOrEqual(t, utf8.RuneCountInString(line), max(0, width-1))
		assert.NotContains(t, line, "\n")
		assert.NotContains(t, line, "\r")
		assert.True(t, utf8.ValidString(line))
	})
}

func TestAPauseNearItsEndIsNotZero(t *testing.T) {
	s := lineTests[4].s
	s.Paused = 300 * time.Millisecond
	assert.Contains(t, Line(s, 160), "429: paused 1s")
}

func TestDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{
		0: "0s", 1400 * time.Millisecond: "1s", 59 * time.Second: "59s", 172 * time.Second: "2m52s",
		time.Hour + 4*time.Minute: "1h04m", 144 * time.Minute: "2h24m", 200 * time.Hour: ">99h",
	} {
		assert.Equal(t, want, Duration(d), "%v", d)
	}
}

func TestAttrsHaveTheLineFields(t *testing.T) {
	s := lineTests[2].s
	s.Paused = 5 * time.Second
	got := map[string]string{}
	for _, a := range Attrs(s) {
		kv := a.(interface{ String() string }).String()
		k, v, _ := strings.Cut(kv, "=")
		got[k] = v
	}
	assert.Equal(t, map[string]string{
		"progress": "~41%", "done": "412345", "expected": "1000321", "estimated": "true", "rate": "3412",
		"in_flight": "8", "throttled": "2", "retries": "4", "failed": "45", "skipped": "300", "loaded": "412000",
		"read": "500000", "reading": "ongoing", "eta": "2m52s", "paused": "5s",
	}, got)

	unknown := map[string]string{}
	for _, a := range Attrs(lineTests[0].s) {
		k, v, _ := strings.Cut(a.(interface{ String() string }).String(), "=")
		unknown[k] = v
	}
	assert.Equal(t, "unknown", unknown["progress"])
	assert.Equal(t, "unknown", unknown["eta"])
	assert.NotContains(t, unknown, "expected", "no made-up total")
}
