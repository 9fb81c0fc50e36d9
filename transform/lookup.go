package transform

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/msgmigrate/msgmigrate/config"
	"github.com/msgmigrate/msgmigrate/extract/csv"
)

// loadLookups reads each table into memory. A later spec of the same name
// replaces an earlier one (a job's tables override its mapping's).
func loadLookups(specs []LookupSpec) (map[string]map[string]string, error) {
	tables := map[string]map[string]string{}
	for _, s := range specs {
		t, err := loadLookup(s)
		if err != nil {
			return nil, err
		}
		tables[s.Name] = t
	}
	return tables, nil
}

func loadLookup(s LookupSpec) (map[string]string, error) {
	return readLookup(s, csv.Options{Encoding: s.Encoding})
}

// readLookup reads one table's file as o says; messages name the setting
// lookups.NAME.encoding unless o names another.
func readLookup(s LookupSpec, o csv.Options) (map[string]string, error) {
	if o.Setting == "" {
		o.Setting = "lookups." + s.Name + ".encoding"
	}
	path := config.Resolve(s.Dir, s.File)
	src, err := csv.OpenWith(path, s.File, o)
	if err != nil {
		return nil, fmt.Errorf("lookup %q: %w", s.Name, err)
	}
	defer src.Close()
	has := map[string]bool{}
	for _, h := range src.Header() {
		has[h] = true
	}
	for _, col := range []string{s.Key, s.Value} {
		if !has[col] {
			return nil, fmt.Errorf("lookup %q: %s has no column %q (columns: %v)", s.Name, s.File, col, src.Header())
		}
	}
	t := map[string]string{}
	lines := map[string]int{}
	for {
		rec, err := src.Next(context.Background())
		if errors.Is(err, io.EOF) {
			return t, nil
		}
		if err != nil {
			return nil, fmt.Errorf("lookup %q: %w", s.Name, err)
		}
		k, _ := rec.Fields[s.Key].(string)
		v, _ := rec.Fields[s.Value].(string)
		if k == "" {
			continue
		}
		if prev, dup := t[k]; dup && prev != v {
			return nil, fmt.Errorf("lookup %q: %s: key %q has two values (lines %d and %d)", s.Name, rec.Origin, k, lines[k], rec.Origin.Line)
		}
		t[k] = v
		lines[k] = rec.Origin.Line
	}
}
