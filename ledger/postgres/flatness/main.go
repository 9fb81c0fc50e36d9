// Command flatness measures whether the PostgreSQL ledger's cost per item
// grows with the ledger: it fills one ledger to each size in turn with
// writes as the recorder makes them, and at each size reports Write
// throughput (the last writes before it), Lookup throughput of keys the
// ledger has and of keys it has not (batches as the gate asks), and the
// disk bytes per item. Figures are measured in this process, the server on
// the same machine.
//
//	go run ./ledger/postgres/flatness -state 'postgres://postgres@/postgres?host=/tmp/pg&schema=mmbench&ledger=flat' -sizes 100000,1000000,10000000
//
// A ledger filled by an earlier invocation is carried on from where it
// stopped. Keys are spread at random (a hash of the item's number): the
// index never gets the help of keys that arrive in order.
package main

import (
	"context"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/msgmigrate/msgmigrate/ledger"
	"github.com/msgmigrate/msgmigrate/ledger/postgres"
	"github.com/msgmigrate/msgmigrate/msg"
)

func main() {
	state := flag.String("state", "", "postgres:// state URL naming the ledger (ledger=, schema=)")
	sizes := flag.String("sizes", "100000,1000000,10000000", "ledger sizes to measure at, ascending")
	per := flag.Int("write", 2000, "items per Write")
	runs := flag.Int("runs", 5, "runs per figure")
	group := flag.Int("group", 5, "writes per Write run, at least (a run is a tenth of the last tenth of the ledger's writes)")
	batches := flag.Int("batches", 100, "Lookup batches of 256 keys per run")
	settle := flag.Bool("settle", false, "CHECKPOINT before the lookups (a superuser's), as a rerun finds the server: not in the middle of flushing the fill")
	flag.Parse()
	if err := run(*state, *sizes, *per, *runs, *group, *batches, *settle); err != nil {
		fmt.Fprintln(os.Stderr, "flatness:", err)
		os.Exit(1)
	}
}

// key is item i's key: 16 hex digits, spread.
func key(i int64) string {
	x := uint64(i) + 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	x ^= x >> 31
	return "msg-" + strconv.FormatUint(x, 16)
}

func entry(i int64) ledger.Entry {
	e := ledger.Entry{Key: key(i), Route: []string{"dept-" + strconv.FormatInt(i%10, 10), "cust-" + strconv.FormatInt(i%97, 10)},
		Origin: msg.Origin{Source: "messages.csv", Line: int(i + 2)}, Status: ledger.Loaded, TargetID: "T" + strconv.FormatInt(i, 10)}
	copy(e.Hash[:], key(i))
	if i%50 == 0 { // 2% fail, and keep their payload for retry
		e.Status, e.TargetID, e.Code, e.Error = ledger.Failed, "", "INVALID_DATE", "sentOn: not a date"
		e.Payload = []byte(`{"body":"` + strings.Repeat("x", 300) + `"}`)
	}
	return e
}

type stats []float64

func (s stats) String() string {
	c := slices.Clone(s)
	slices.Sort(c)
	return fmt.Sprintf("median %8.0f  range %8.0f–%-8.0f", c[len(c)/2], c[0], c[len(c)-1])
}

func run(state, sizeList string, per, runs, group, batches int, settle bool) error {
	var targets []int64
	for _, s := range strings.Split(sizeList, ",") {
		n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
		if err != nil {
			return fmt.Errorf("-sizes: %w", err)
		}
		targets = append(targets, n)
	}
	l, err := postgres.Open(state, ledger.Options{})
	if err != nil {
		return err
	}
	defer l.Close()
	c, err := l.Counts()
	if err != nil {
		return err
	}
	next := c.Loaded + c.Failed // carried on
	runID, err := l.StartRun("flatness", "run")
	if err != nil {
		return err
	}
	fmt.Printf("ledger %s: %d items already; %d items per Write\n", l.Where(), next, per)
	var durations []time.Duration // of every Write, in order
	buf := make([]ledger.Entry, per)
	for _, target := range targets {
		started := time.Now()
		for next < target {
			for j := range buf {
				buf[j] = entry(next + int64(j))
			}
			t0 := time.Now()
			if err := l.Write(runID, buf, nil, nil); err != nil {
				return err
			}
			durations = append(durations, time.Since(t0))
			next += int64(per)
		}
		fill := time.Since(started)
		// The last tenth of the ledger's writes, at least runs×group, in
		// runs equal parts: long enough that a checkpoint is one of many
		// moments, not the figure.
		need := max(runs*group, int(target/10)/per/runs*runs)
		group := need / runs
		if len(durations) < need {
			fmt.Printf("%d items: fewer than %d writes made in this invocation: no Write figure\n", next, need)
		} else {
			var w stats
			last := durations[len(durations)-need:]
			for r := range runs {
				var d time.Duration
				for _, x := range last[r*group : (r+1)*group] {
					d += x
				}
				w = append(w, float64(group*per)/d.Seconds())
			}
			fmt.Printf("%9d items  Write          items/s %s  (the last %d writes before it, %d runs of %d writes; this fill took %s)\n",
				next, w, need, runs, group, fill.Round(time.Second))
		}
		if settle {
			if err := sql(state, "CHECKPOINT"); err != nil {
				return err
			}
		}
		// A rerun asks for the keys in the order the first run wrote them;
		// random known keys and keys never written are the harder cases.
		for _, mode := range []string{"rerun order ", "random known", "unknown     "} {
			var lk stats
			keys := make([]string, 256)
			out := make([]ledger.Seen, 256)
			rnd := rand.New(rand.NewPCG(uint64(next), 7))
			for range runs {
				from := rnd.Int64N(max(next-int64(batches*256), 1))
				t0 := time.Now()
				for b := range batches {
					for j := range keys {
						switch mode[0] {
						case 'r':
							if mode[1] == 'e' {
								keys[j] = key(from + int64(b*256+j))
							} else {
								keys[j] = key(rnd.Int64N(next))
							}
						default:
							keys[j] = key(next + 1_000_000_000 + rnd.Int64N(1_000_000_000))
						}
					}
					if err := l.Lookup(keys, out); err != nil {
						return err
					}
					if mode[0] == 'r' && !out[0].Known {
						return fmt.Errorf("key %s not known", keys[0])
					}
				}
				lk = append(lk, float64(batches*256)/time.Since(t0).Seconds())
			}
			fmt.Printf("%9d items  Lookup %s keys/s  %s  (%d runs of %d batches of 256)\n", next, mode, lk, runs, batches)
		}
		if err := disk(state, next); err != nil {
			return err
		}
		// The machine may be shared: say how busy it was.
		if la, err := os.ReadFile("/proc/loadavg"); err == nil {
			fmt.Printf("%9d items  load average %s", next, la)
		}
	}
	return l.FinishRun(runID, "completed", "", nil)
}

// server connects to the state's database, less the ledger's parameters.
func server(state string) (conn *pgx.Conn, schema string, err error) {
	u := state
	schema = postgres.DefaultSchema
	if i := strings.Index(u, "?"); i >= 0 {
		var rest []string
		for _, kv := range strings.Split(u[i+1:], "&") {
			k, v, _ := strings.Cut(kv, "=")
			switch k {
			case "schema":
				schema = v
			case "ledger":
			default:
				rest = append(rest, kv)
			}
		}
		u = u[:i] + "?" + strings.Join(rest, "&")
	}
	conn, err = pgx.Connect(context.Background(), u)
	return conn, schema, err
}

func sql(state, q string) error {
	conn, _, err := server(state)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	_, err = conn.Exec(context.Background(), q)
	return err
}

// disk reports the schema's tables' size per item (the benchmark's ledger
// should be alone in its schema).
func disk(state string, items int64) error {
	ctx := context.Background()
	conn, schema, err := server(state)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	var heap, idx, total int64
	s := pgx.Identifier{schema}.Sanitize()
	err = conn.QueryRow(ctx, `SELECT pg_table_size($1::regclass), pg_indexes_size($1::regclass),
		pg_total_relation_size($1::regclass) + pg_total_relation_size($2::regclass) + pg_total_relation_size($3::regclass)`,
		s+".items", s+".routes", s+".sources").Scan(&heap, &idx, &total)
	if err != nil {
		return err
	}
	fmt.Printf("%9d items  disk: %.0f bytes/item (items table %.0f, its indexes %.0f; %d MB in all)\n",
		items, float64(total)/float64(items), float64(heap)/float64(items), float64(idx)/float64(items), total>>20)
	return nil
}
