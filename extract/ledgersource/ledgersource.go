// Package ledgersource is the "ledger" source: what another job migrated,
// one record per loaded item, for write-backs (stamp each source message
// with the id it got in the target) and id maps.
//
// A record has key, target_id, route (list), origin, source_id, loaded_at,
// and the source fields the migration's mapping kept (keep:).
package ledgersource

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/msgmigrate/msgmigrate/config"
	"github.com/msgmigrate/msgmigrate/extract"
	"github.com/msgmigrate/msgmigrate/extract/jsonl"
	"github.com/msgmigrate/msgmigrate/ledger"
	"github.com/msgmigrate/msgmigrate/msg"
)

func init() { extract.Register("ledger", open) }

// Config is the ledger source's part of a job file.
type Config struct {
	Kind  string `yaml:"kind"`
	Path  string `yaml:"path"`  // the other job's ledger (its state:)
	State string `yaml:"state"` // the same, by the other job's key name
}

// Source yields the loaded items of a ledger.
type Source struct {
	name    string
	entries []ledger.Entry
	i       int
}

func open(_ context.Context, sec config.Section, _ extract.Env) (extract.Source, error) {
	var c Config
	if err := sec.Decode(&c); err != nil {
		return nil, err
	}
	if c.Path == "" {
		c.Path = c.State
	}
	if c.Path == "" {
		return nil, fmt.Errorf("%s: source.state (or path) is required for kind ledger: the migration job's state file", sec.File)
	}
	p := sec.Path(c.Path)
	return Open(p, c.Path)
}

// Open reads the loaded items of the ledger at path. The ledger is opened as
// a run would (it must not be in use, and what a dead run left is merged).
func Open(path, name string) (*Source, error) {
	l, err := ledger.Open(path)
	if err != nil {
		return nil, err
	}
	defer l.Close()
	s := &Source{name: name}
	// Entries are small (no payloads): a few hundred bytes each.
	if err := l.Loaded(func(e ledger.Entry) error {
		s.entries = append(s.entries, e)
		return nil
	}); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return s, nil
}

// Next returns the next loaded item.
func (s *Source) Next(ctx context.Context) (*msg.Record, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if s.i >= len(s.entries) {
		return nil, io.EOF
	}
	e := s.entries[s.i]
	s.i++
	origin := msg.Origin{Source: s.name, ID: e.Key}
	fields := map[string]any{}
	if len(e.Kept) > 0 {
		kept, err := jsonl.Decode(e.Kept)
		if err != nil {
			return nil, &msg.Error{Origin: origin, Stage: msg.StageRead, Err: fmt.Errorf("kept fields: %w", err)}
		}
		fields = kept
	}
	route := make([]any, len(e.Route))
	for i, r := range e.Route {
		route[i] = r
	}
	fields["key"] = e.Key
	fields["target_id"] = e.TargetID
	fields["route"] = route
	fields["origin"] = e.Origin
	fields["loaded_at"] = e.LoadedAt
	fields["source_id"] = SourceID(e.Origin, fields)
	return &msg.Record{Origin: origin, Fields: fields}, nil
}

// SourceID is the vendor id an item came from: the kept "id" (or
// identifierGuid), else the id in an origin like "gorgias message 1234".
func SourceID(origin string, kept map[string]any) any {
	for _, k := range []string{"id", "identifierGuid"} {
		if v, ok := kept[k]; ok {
			return v
		}
	}
	if _, id, ok := strings.Cut(origin, " message "); ok {
		return id
	}
	return origin
}

// Progress reports items handed out of the total.
func (s *Source) Progress() (done, total int64) { return int64(s.i), int64(len(s.entries)) }

// Close does nothing: the ledger was read at open.
func (s *Source) Close() error { return nil }
