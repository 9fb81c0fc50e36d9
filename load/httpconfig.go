package load

import (
	"time"

	"github.com/msgmigrate/msgmigrate/config"
	"github.com/msgmigrate/msgmigrate/transport"
)

// HTTPConfig is the part of a sink section every HTTP sink shares.
type HTTPConfig struct {
	Kind             string      `yaml:"kind"`
	URL              string      `yaml:"url"`
	Username         string      `yaml:"username"`
	Password         string      `yaml:"password"`
	Batch            BatchConfig `yaml:"batch"`
	Concurrency      int         `yaml:"concurrency"`
	transport.Config `yaml:",inline"`
}

// BatchConfig is sink.batch.
type BatchConfig struct {
	MaxItems     int             `yaml:"max_items"`
	MaxBytes     config.ByteSize `yaml:"max_bytes"`
	Linger       config.Duration `yaml:"linger"`
	MaxOpenBytes config.ByteSize `yaml:"max_open_bytes"`
}

// Defaults for HTTP sinks.
const (
	DefaultMaxItems    = 100
	DefaultMaxBytes    = 1 << 20
	DefaultConcurrency = 8
)

// Options turns the configuration into delivery options, with defaults.
func (c HTTPConfig) Options(overhead int) Options {
	o := Options{
		MaxItems:    c.Batch.MaxItems,
		MaxBytes:    int(c.Batch.MaxBytes),
		Overhead:    overhead,
		Concurrency: c.Concurrency,
		Linger:      time.Duration(c.Batch.Linger),
		MaxOpen:     int(c.Batch.MaxOpenBytes),
	}
	if o.MaxItems <= 0 {
		o.MaxItems = DefaultMaxItems
	}
	if o.MaxBytes <= 0 {
		o.MaxBytes = DefaultMaxBytes
	}
	if o.Concurrency <= 0 {
		o.Concurrency = DefaultConcurrency
	}
	return o
}

// Client is the transport client of an HTTP sink: its pacer takes the
// section's rate (this process's share of it), burst, timeout and retry.
func (c HTTPConfig) Client(env Env, o Options) *transport.Client {
	return transport.NewClient("sink "+c.Kind, c.Config, 0, 1, o.Concurrency, env.RateShare, env.Log)
}
