package config

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Duration is a time.Duration written as "1.5s", "200ms", "2m".
type Duration time.Duration

// UnmarshalYAML reads a Go duration string.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	v, err := time.ParseDuration(n.Value)
	if err != nil {
		return fmt.Errorf("%s: %q is not a duration (e.g. 30s, 500ms, 2m)", lineOf(n), n.Value)
	}
	*d = Duration(v)
	return nil
}

// ByteSize is a size written as 1048576, "512KB", "1MiB".
type ByteSize int

// UnmarshalYAML reads a byte size.
func (b *ByteSize) UnmarshalYAML(n *yaml.Node) error {
	v, err := ParseByteSize(n.Value)
	if err != nil {
		return fmt.Errorf("%s: %w", lineOf(n), err)
	}
	*b = ByteSize(v)
	return nil
}

// ParseByteSize reads 1048576, "512KB", "1MiB", "2MB".
func ParseByteSize(s string) (int, error) {
	t := strings.TrimSpace(s)
	units := []struct {
		suffix string
		mult   int
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"KB", 1000}, {"MB", 1000 * 1000}, {"GB", 1000 * 1000 * 1000}, {"B", 1}}
	mult := 1
	for _, u := range units {
		if strings.HasSuffix(t, u.suffix) {
			t, mult = strings.TrimSpace(strings.TrimSuffix(t, u.suffix)), u.mult
			break
		}
	}
	n, err := strconv.ParseFloat(t, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("%q is not a size (e.g. 1MiB, 512KB, 100000)", s)
	}
	return int(n * float64(mult)), nil
}

// Rate is a request rate written as "20/s", "600/min", "5000/h" or a number
// per second.
type Rate float64

// UnmarshalYAML reads a rate.
func (r *Rate) UnmarshalYAML(n *yaml.Node) error {
	v, err := ParseRate(n.Value)
	if err != nil {
		return fmt.Errorf("%s: %w", lineOf(n), err)
	}
	*r = Rate(v)
	return nil
}

// ParseRate returns requests per second.
func ParseRate(s string) (float64, error) {
	num, per, hasPer := strings.Cut(strings.TrimSpace(s), "/")
	n, err := strconv.ParseFloat(strings.TrimSpace(num), 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("%q is not a rate (e.g. 20/s, 600/min)", s)
	}
	if !hasPer {
		return n, nil
	}
	switch strings.TrimSpace(per) {
	case "s", "sec", "second":
		return n, nil
	case "m", "min", "minute":
		return n / 60, nil
	case "h", "hour":
		return n / 3600, nil
	}
	d, err := time.ParseDuration(strings.TrimSpace(per))
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("%q is not a rate (e.g. 20/s, 600/min, 40/20s)", s)
	}
	return n / d.Seconds(), nil
}

// lineOf names where a value was written: its line, or --set for a value
// given on the command line (which has no line).
func lineOf(n *yaml.Node) string {
	if n.Line == 0 {
		return "--set"
	}
	return fmt.Sprintf("line %d", n.Line)
}
