package superoffice

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseDate(t *testing.T) {
	oslo, err := time.LoadLocation("Europe/Oslo")
	require.NoError(t, err)
	ny, err := time.LoadLocation("America/New_York")
	require.NoError(t, err)
	utc := func(s string) time.Time {
		v, err := time.Parse(time.RFC3339Nano, s)
		require.NoError(t, err)
		return v
	}
	cases := []struct {
		in   string
		loc  *time.Location
		want time.Time
	}{
		// The headers page's includeTZOffset example: -0500, no colon.
		{"2018-12-24T07:34:45-0500", oslo, utc("2018-12-24T12:34:45Z")},
		{"2018-12-24T07:34:45-05:00", oslo, utc("2018-12-24T12:34:45Z")},
		{"2018-12-24T07:34:45-05", oslo, utc("2018-12-24T12:34:45Z")},
		{"2022-10-22T17:54:08.6639929+02:00", time.UTC, utc("2022-10-22T15:54:08.6639929Z")},
		{"2018-12-24T12:34:45Z", ny, utc("2018-12-24T12:34:45Z")},
		// No offset: the zone asked for, never the machine's.
		{"2018-12-24T13:34:45", oslo, utc("2018-12-24T12:34:45Z")},
		{"2018-12-24T07:34:45", ny, utc("2018-12-24T12:34:45Z")},
		{"2024-07-01T11:00:00", oslo, utc("2024-07-01T09:00:00Z")}, // summer time
		{"2024-07-01 11:00", oslo, utc("2024-07-01T09:00:00Z")},
		{"2024-02-29T00:00:00.5", time.UTC, utc("2024-02-29T00:00:00.5Z")},
	}
	for _, c := range cases {
		got, err := ParseDate(c.in, c.loc)
		require.NoError(t, err, c.in)
		assert.True(t, c.want.Equal(got), "%s: got %s, want %s", c.in, got.UTC(), c.want)
	}
	for _, bad := range []string{"", "2018-12-24", "24/12/2018 07:34", "2018-12-24T07:34:45+", "2018-12-24T07:34:45-050",
		"2018-13-24T07:34:45", "2023-02-29T07:34:45", "2018-12-24T07:34:45 GMT", "2018-12-24T07:34:45.", "2018-12-24T25:00:00"} {
		_, err := ParseDate(bad, oslo)
		assert.Error(t, err, "%q", bad)
	}
	_, err = ParseDate("2018-12-24T07:34:45", nil)
	assert.ErrorContains(t, err, "no time zone")
}

// A $filter literal is the wall time in the zone the server reads it in;
// near a change of offset it starts two hours early rather than late.
func TestFilterDate(t *testing.T) {
	oslo, _ := time.LoadLocation("Europe/Oslo")
	from := time.Date(2024, 3, 4, 8, 30, 0, 0, time.UTC)
	assert.Equal(t, "2024-03-04T09:30:00", FilterDate(FilterFrom(from, oslo), oslo))
	// 2024-10-27 01:30 UTC is 02:30 summer time in Oslo, an hour that comes twice.
	overlap := time.Date(2024, 10, 27, 0, 30, 0, 0, time.UTC)
	assert.Equal(t, "2024-10-27T00:30:00", FilterDate(FilterFrom(overlap, oslo), oslo))
	got, err := ParseDate(FilterDate(FilterFrom(overlap, oslo), oslo), oslo)
	require.NoError(t, err)
	assert.False(t, got.After(overlap), "whichever instant the server takes, it is not after from")
}

func FuzzParseDate(f *testing.F) {
	for _, s := range []string{"2018-12-24T07:34:45-0500", "2018-12-24T07:34:45", "2022-10-22T17:54:08.6639929+02:00", "2018-12-24T12:34:45Z", "2024-07-01 11:00"} {
		f.Add(s)
	}
	oslo, _ := time.LoadLocation("Europe/Oslo")
	f.Fuzz(func(t *testing.T, s string) {
		v, err := ParseDate(s, oslo)
		if err != nil {
			return
		}
		// What it read, written with its offset, reads back as the same instant.
		again, err := ParseDate(v.Format("2006-01-02T15:04:05.999999999-0700"), oslo)
		if err != nil || !again.Equal(v) {
			t.Fatalf("%q → %v → %v, %v", s, v, again, err)
		}
	})
}
