// Package jsonl is the "jsonl" sink: it writes each item as the target would
// receive it, one JSON object per line, for dry runs and exports.
package jsonl

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"

	"github.com/msgmigrate/msgmigrate/config"
	"github.com/msgmigrate/msgmigrate/load"
	"github.com/msgmigrate/msgmigrate/transport"
)

func init() { load.Register("jsonl", open) }

// Config is the jsonl sink's part of a job file.
type Config struct {
	Kind string `yaml:"kind"`
	Path string `yaml:"path"` // "-" is standard output
}

// Sink writes lines {"route":{...},"key":"...","payload":{...}}.
type Sink struct {
	mu     sync.Mutex
	w      *bufio.Writer
	c      io.Closer
	routes []string
}

func open(_ context.Context, sec config.Section, env load.Env) (load.Sink, error) {
	var c Config
	if err := sec.Decode(&c); err != nil {
		return nil, err
	}
	if c.Path == "" {
		return nil, fmt.Errorf("%s: sink.path is required for kind jsonl (\"-\" for standard output)", sec.File)
	}
	var routes []string
	if env.Schema != nil {
		routes = env.Schema.Route
	}
	if c.Path == "-" {
		return New(os.Stdout, nil, routes), nil
	}
	path := sec.Path(c.Path)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, err
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("jsonl sink: %w", err)
	}
	return New(f, f, routes), nil
}

// New writes to w; closer, when not nil, is closed by Close.
func New(w io.Writer, closer io.Closer, routes []string) *Sink {
	return &Sink{w: bufio.NewWriterSize(w, 256<<10), c: closer, routes: routes}
}

// Options: large batches, one writer.
func (s *Sink) Options() load.Options {
	return load.Options{MaxItems: 1000, Concurrency: 1}
}

// Send writes the batch's items.
func (s *Sink) Send(_ context.Context, b *load.Batch) ([]load.ItemResult, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	route := map[string]string{}
	for i, v := range b.Route {
		name := fmt.Sprintf("route%d", i)
		if i < len(s.routes) {
			name = s.routes[i]
		}
		route[name] = v
	}
	rj, _ := json.Marshal(route)
	results := make([]load.ItemResult, len(b.Items))
	for i, it := range b.Items {
		kj, _ := json.Marshal(it.Key)
		s.w.WriteString(`{"route":`)
		s.w.Write(rj)
		s.w.WriteString(`,"key":`)
		s.w.Write(kj)
		s.w.WriteString(`,"payload":`)
		s.w.Write(it.Payload)
		if _, err := s.w.WriteString("}\n"); err != nil {
			return nil, &transport.Error{Class: transport.Fatal, Kind: transport.KindWrite, Code: "WRITE", Err: err}
		}
		results[i] = load.ItemResult{Status: load.Loaded}
	}
	return results, nil
}

// Close flushes and closes the file.
func (s *Sink) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	err := s.w.Flush()
	if s.c != nil {
		if cerr := s.c.Close(); err == nil {
			err = cerr
		}
	}
	return err
}
