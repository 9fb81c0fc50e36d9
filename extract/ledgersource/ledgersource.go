// Package ledgersource is the "ledger" source: what another job migrated,
// one record per loaded item, for write-backs (stamp each source message
// with the id it got in the target) and id maps.
//
// A record has key, target_id, route (list), origin, source_id, loaded_at,
// and the source fields the migration's mapping kept (keep:).
package ledgersource

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync/atomic"

	"github.com/msgmigrate/msgmigrate/config"
	"github.com/msgmigrate/msgmigrate/extract"
	"github.com/msgmigrate/msgmigrate/extract/jsonl"
	"github.com/msgmigrate/msgmigrate/ledger"
	"github.com/msgmigrate/msgmigrate/msg"
	"github.com/msgmigrate/msgmigrate/transform"
)

func init() { extract.Register("ledger", open) }

// Config is the ledger source's part of a job file.
type Config struct {
	Kind  string `yaml:"kind"`
	Path  string `yaml:"path"`  // the other job's ledger (its state:)
	State string `yaml:"state"` // the same, by the other job's key name
}

// Source yields the loaded items of a ledger, every shard's, streaming:
// memory stays flat however many items the other job loaded.
type Source struct {
	name    string
	readers []ledger.Reader
	ch      chan ledger.Entry
	errc    chan error
	stop    chan struct{}
	read    atomic.Int64 // Progress reads it from another goroutine
	total   int64
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
		return nil, fmt.Errorf("%s: source.state (or path) is required for kind ledger: the migration job's state", sec.File)
	}
	p := c.Path
	if !strings.Contains(p, "://") {
		p = sec.Path(c.Path)
	}
	return Open(p, c.Path)
}

// Open reads the loaded items of the ledger at state (every shard's).
func Open(state, name string) (*Source, error) {
	readers, err := ledger.Readers(state)
	if err != nil {
		return nil, fmt.Errorf("source %s: %w", name, err)
	}
	s := &Source{name: name, readers: readers, ch: make(chan ledger.Entry, 256), errc: make(chan error, 1), stop: make(chan struct{})}
	for _, r := range readers {
		c, err := r.Counts()
		if err != nil {
			s.Close()
			return nil, fmt.Errorf("source %s: %w", name, err)
		}
		s.total += c.Loaded
	}
	go s.produce()
	return s, nil
}

var errStopped = errors.New("stopped")

func (s *Source) produce() {
	defer close(s.ch)
	for _, r := range s.readers {
		err := r.Loaded(func(e ledger.Entry) error {
			select {
			case s.ch <- e:
				return nil
			case <-s.stop:
				return errStopped
			}
		})
		if err != nil {
			if !errors.Is(err, errStopped) {
				s.errc <- fmt.Errorf("source %s: %w", s.name, err)
			}
			return
		}
	}
}

// Next returns the next loaded item.
func (s *Source) Next(ctx context.Context) (*msg.Record, error) {
	var e ledger.Entry
	var ok bool
	select {
	case e, ok = <-s.ch:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	if !ok {
		select {
		case err := <-s.errc:
			return nil, err
		default:
			return nil, io.EOF
		}
	}
	s.read.Add(1)
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
	fields["origin"] = e.Origin.String()
	fields["loaded_at"] = e.At
	fields["source_id"] = SourceID(e.Origin, fields)
	return &msg.Record{Origin: origin, Fields: fields}, nil
}

// Columns are the fields every record has (kept fields come besides).
func (s *Source) Columns() []string { return nil }

// SourceID is the vendor id an item came from: the kept "id" (or
// identifierGuid), else the id of an API origin ("gorgias message 1234"),
// else the origin.
func SourceID(origin msg.Origin, kept map[string]any) any {
	for _, k := range []string{KeyColumnsField, "id", "identifierGuid"} {
		if v, ok := kept[k]; ok {
			return v
		}
	}
	if origin.ID != "" {
		return origin.ID
	}
	return origin.String()
}

// KeyColumnsField is the kept field holding the value of the column the
// key was made of.
const KeyColumnsField = transform.SourceIDField

// Progress reports items handed out of the total.
func (s *Source) Progress() (done, total int64) { return s.read.Load(), s.total }

// Close stops reading and closes the ledgers.
func (s *Source) Close() error {
	select {
	case <-s.stop:
	default:
		close(s.stop)
	}
	for range s.ch { // let the producer finish
	}
	var errs []error
	for _, r := range s.readers {
		errs = append(errs, r.Close())
	}
	return errors.Join(errs...)
}
