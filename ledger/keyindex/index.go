package keyindex

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
)

// DefaultMemLimit is how many entries the in-memory table holds before it is
// sealed into a run (about 2 MiB with a Go map's overhead, twice while one
// is sealed). Smaller tables mean more, smaller runs, merged in the
// background; a larger one was a sixth of a run's live heap, which the
// collector scans on every cycle. A variable so that tests can make a small
// run seal and merge often (a kill inside the index's maintenance).
var DefaultMemLimit = 1 << 15

// mergeWidth runs of similar size are merged into one.
const mergeWidth = 4

// Index is a key index in a directory. Lookup, Add and Flush are safe for
// concurrent use.
type Index struct {
	dir      string
	memLimit int

	mu      sync.RWMutex
	mem     map[FP]Entry
	memMax  int64
	frozen  map[FP]Entry // being sealed; still answers lookups
	runs    []*run       // oldest first
	covered int64        // the highest ledger row in run files
	next    int          // number of the next run file
	closed  bool

	mergeMu   sync.Mutex // one merge at a time
	mergeKick chan struct{}
	cancel    context.CancelFunc
	merger    sync.WaitGroup
	mergeErr  error
	bufs      sync.Pool
}

type manifest struct {
	Format  int      `json:"format"`
	Runs    []string `json:"runs"`
	Covered int64    `json:"covered"` // the highest ledger row the runs hold
	Next    int      `json:"next"`
}

const manifestName = "MANIFEST"

// Open opens the index in dir, creating it if absent, and returns the
// highest ledger row its run files hold: the caller adds what the ledger
// recorded after it. An error wrapping ErrCorrupt means the index cannot be
// trusted: Remove it and rebuild.
func Open(dir string, memLimit int) (*Index, int64, error) {
	if memLimit <= 0 {
		memLimit = DefaultMemLimit
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, 0, fmt.Errorf("key index %s: %w", dir, err)
	}
	x := &Index{dir: dir, memLimit: memLimit, mem: make(map[FP]Entry), next: 1, mergeKick: make(chan struct{}, 1)}
	x.bufs.New = func() any { b := make([]byte, blockSize); return &b }
	m, err := readManifest(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if names, _ := runNames(dir); len(names) > 0 {
			return nil, 0, fmt.Errorf("%w: %s has run files but no manifest", ErrCorrupt, dir)
		}
	case err != nil:
		return nil, 0, err
	default:
		for _, name := range m.Runs {
			r, err := openRun(dir, name)
			if err != nil {
				x.closeRuns()
				if errors.Is(err, fs.ErrNotExist) {
					err = fmt.Errorf("%w: run %s is missing", ErrCorrupt, name)
				}
				return nil, 0, err
			}
			x.runs = append(x.runs, r)
		}
		x.covered, x.next = m.Covered, m.Next
	}
	x.removeStrays()
	ctx, cancel := context.WithCancel(context.Background())
	x.cancel = cancel
	x.merger.Add(1)
	go x.mergeLoop(ctx)
	x.kick()
	return x, x.covered, nil
}

// Remove deletes an index directory.
func Remove(dir string) error { return os.RemoveAll(dir) }

// Lookup returns the latest entry for fp.
func (x *Index) Lookup(fp FP) (Entry, bool, error) {
	x.mu.RLock()
	defer x.mu.RUnlock()
	if e, ok := x.mem[fp]; ok {
		return e, true, nil
	}
	if e, ok := x.frozen[fp]; ok {
		return e, true, nil
	}
	bp := x.bufs.Get().(*[]byte)
	defer x.bufs.Put(bp)
	for i := len(x.runs) - 1; i >= 0; i-- {
		e, ok, err := x.runs[i].lookup(&fp, *bp)
		if err != nil || ok {
			return e, ok, err
		}
	}
	return Entry{}, false, nil
}

// Add records entries (later ones win); maxRow is the highest ledger row
// among them (0 for an index without a ledger). A full in-memory table is
// sealed into a run file before Add returns.
func (x *Index) Add(es []Entry, maxRow int64) error {
	x.mu.Lock()
	for _, e := range es {
		x.mem[e.FP] = e
	}
	x.memMax = max(x.memMax, maxRow)
	full := len(x.mem) >= x.memLimit
	x.mu.Unlock()
	if full {
		return x.Flush()
	}
	return nil
}

// Flush seals the in-memory table into a run file, so that the next Open
// has nothing to catch up.
func (x *Index) Flush() error {
	x.mu.Lock()
	if len(x.mem) == 0 || x.closed {
		x.mu.Unlock()
		return nil
	}
	frozen, maxRow := x.mem, x.memMax
	x.frozen, x.mem, x.memMax = frozen, make(map[FP]Entry), 0
	name := fmt.Sprintf("%06d.run", x.next)
	x.next++
	x.mu.Unlock()

	es := make([]Entry, 0, len(frozen))
	for _, e := range frozen {
		es = append(es, e)
	}
	slices.SortFunc(es, func(a, b Entry) int { return compare(&a.FP, &b.FP) })
	i := 0
	err := writeRun(filepath.Join(x.dir, name), func() (Entry, bool) {
		if i == len(es) {
			return Entry{}, false
		}
		i++
		return es[i-1], true
	}, len(es))
	var r *run
	if err == nil {
		r, err = openRun(x.dir, name)
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	if err != nil {
		// Keep the entries answering: merge them back for the next try.
		for fp, e := range frozen {
			if _, newer := x.mem[fp]; !newer {
				x.mem[fp] = e
			}
		}
		x.memMax = max(x.memMax, maxRow)
		x.frozen = nil
		return fmt.Errorf("key index %s: sealing %s: %w", x.dir, name, err)
	}
	x.runs = append(x.runs, r)
	x.frozen = nil
	x.covered = max(x.covered, maxRow)
	if err := x.writeManifest(); err != nil {
		return err
	}
	x.kick()
	return nil
}

// Compact merges runs until no merge is due, in the caller's goroutine.
func (x *Index) Compact(ctx context.Context) error {
	x.mergeMu.Lock()
	defer x.mergeMu.Unlock()
	for {
		did, err := x.mergeOnce(ctx)
		if err != nil || !did {
			return err
		}
	}
}

// Len is the number of run files (for tests and status).
func (x *Index) Len() int {
	x.mu.RLock()
	defer x.mu.RUnlock()
	return len(x.runs)
}

// Close stops a merge in progress (its inputs stay; the next Open takes it
// up), and closes the files. It does not seal the in-memory table: call
// Flush first to keep it.
func (x *Index) Close() error {
	x.cancel()
	x.merger.Wait()
	x.mu.Lock()
	defer x.mu.Unlock()
	x.closed = true
	x.closeRuns()
	return x.mergeErr
}

func (x *Index) closeRuns() {
	for _, r := range x.runs {
		r.f.Close()
	}
	x.runs = nil
}

func (x *Index) kick() {
	select {
	case x.mergeKick <- struct{}{}:
	default:
	}
}

// mergeLoop merges runs of similar size in the background.
func (x *Index) mergeLoop(ctx context.Context) {
	defer x.merger.Done()
	for {
		select {
		case <-ctx.Done():
			return
		case <-x.mergeKick:
		}
		for {
			x.mergeMu.Lock()
			did, err := x.mergeOnce(ctx)
			x.mergeMu.Unlock()
			if err != nil {
				if ctx.Err() == nil {
					x.mu.Lock()
					x.mergeErr = err
					x.mu.Unlock()
				}
				return
			}
			if !did {
				break
			}
		}
	}
}

// pick chooses the newest mergeWidth runs when their sizes are within a
// factor of mergeWidth of each other (size-tiered: each entry is rewritten
// about log(n) times in all).
func pick(runs []*run) int {
	if len(runs) < mergeWidth {
		return -1
	}
	from := len(runs) - mergeWidth
	lo, hi := runs[from].n, runs[from].n
	for _, r := range runs[from:] {
		lo, hi = min(lo, r.n), max(hi, r.n)
	}
	if hi > mergeWidth*max(lo, 1) {
		return -1
	}
	return from
}

func (x *Index) mergeOnce(ctx context.Context) (bool, error) {
	x.mu.Lock()
	from := pick(x.runs)
	if from < 0 || x.closed {
		x.mu.Unlock()
		return false, nil
	}
	inputs := slices.Clone(x.runs[from : from+mergeWidth])
	name := fmt.Sprintf("%06d.run", x.next)
	x.next++
	x.mu.Unlock()

	total := 0
	scans := make([]func() (Entry, bool, error), len(inputs))
	heads := make([]Entry, len(inputs))
	live := make([]bool, len(inputs))
	var scanErr error
	advance := func(i int) {
		e, ok, err := scans[i]()
		if err != nil && scanErr == nil {
			scanErr = err
		}
		heads[i], live[i] = e, ok && err == nil
	}
	for i, r := range inputs {
		total += r.n
		scans[i] = r.scan()
		advance(i)
	}
	steps := 0
	next := func() (Entry, bool) {
		if steps++; steps%4096 == 0 && ctx.Err() != nil {
			return Entry{}, false
		}
		best := -1
		for i := range inputs {
			// Later inputs are newer: on a tie the newest wins.
			if live[i] && (best < 0 || !less(&heads[best].FP, &heads[i].FP)) {
				best = i
			}
		}
		if best < 0 {
			return Entry{}, false
		}
		e := heads[best]
		for i := range inputs {
			if live[i] && heads[i].FP == e.FP {
				advance(i)
			}
		}
		return e, true
	}
	path := filepath.Join(x.dir, name)
	err := writeRun(path, next, total)
	if err == nil && (scanErr != nil || ctx.Err() != nil) {
		os.Remove(path)
		err = errors.Join(scanErr, ctx.Err())
	}
	if err != nil {
		return false, fmt.Errorf("key index %s: merging into %s: %w", x.dir, name, err)
	}
	merged, err := openRun(x.dir, name)
	if err != nil {
		return false, err
	}
	x.mu.Lock()
	// Only seals happened meanwhile (appends), and one merge runs at a
	// time: the inputs are where they were.
	rest := slices.Clone(x.runs[from+mergeWidth:])
	x.runs = append(append(x.runs[:from:from], merged), rest...)
	err = x.writeManifest()
	x.mu.Unlock()
	if err != nil {
		return false, err
	}
	for _, r := range inputs {
		r.f.Close()
		os.Remove(filepath.Join(x.dir, r.name))
	}
	return true, nil
}

// writeManifest records the runs, atomically; x.mu is held.
func (x *Index) writeManifest() error {
	m := manifest{Format: 1, Covered: x.covered, Next: x.next}
	for _, r := range x.runs {
		m.Runs = append(m.Runs, r.name)
	}
	b, _ := json.Marshal(m)
	tmp := filepath.Join(x.dir, manifestName+".tmp")
	f, err := os.Create(tmp)
	if err != nil {
		return fmt.Errorf("key index %s: %w", x.dir, err)
	}
	_, err = f.Write(b)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, filepath.Join(x.dir, manifestName))
	}
	if err == nil {
		err = syncDir(x.dir)
	}
	if err != nil {
		return fmt.Errorf("key index %s: manifest: %w", x.dir, err)
	}
	return nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

func readManifest(dir string) (manifest, error) {
	var m manifest
	b, err := os.ReadFile(filepath.Join(dir, manifestName))
	if err != nil {
		return m, err
	}
	if err := json.Unmarshal(b, &m); err != nil || m.Format != 1 {
		return m, fmt.Errorf("%w: %s: unreadable manifest", ErrCorrupt, dir)
	}
	return m, nil
}

func runNames(dir string) ([]string, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, e := range ents {
		if strings.HasSuffix(e.Name(), ".run") {
			names = append(names, e.Name())
		}
	}
	return names, nil
}

// removeStrays deletes what a crash left: temporary files, and runs a
// merge wrote but did not record (or recorded and did not delete).
func (x *Index) removeStrays() {
	ents, err := os.ReadDir(x.dir)
	if err != nil {
		return
	}
	live := map[string]bool{manifestName: true}
	for _, r := range x.runs {
		live[r.name] = true
	}
	for _, e := range ents {
		if !live[e.Name()] {
			os.Remove(filepath.Join(x.dir, e.Name()))
		}
	}
}
