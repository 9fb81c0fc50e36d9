package postgres

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/msgmigrate/msgmigrate/ledger"
	"github.com/msgmigrate/msgmigrate/ledger/ledgertest"
)

// The tests start this test binary again as another msgmigrate process.
const childEnv = "MSGMIGRATE_PG_CHILD"

func TestMain(m *testing.M) {
	if mode := os.Getenv(childEnv); mode != "" {
		if err := child(mode, os.Getenv("CHILD_STATE"), os.Getenv("CHILD_SHARD")); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	code := m.Run()
	dropShared()
	os.Exit(code)
}

// childWrite is the size of the child's writes.
const childWrite = 2000

// child is the other process: "hold" takes a shard's run lock until its
// input closes; "write" records writes of childWrite items, saying which
// committed, and stops for good inside its third, before the commit.
func child(mode, state, shard string) error {
	var s ledger.Shard
	if shard != "" {
		if _, err := fmt.Sscanf(shard, "%d/%d", &s.Index, &s.Count); err != nil {
			return err
		}
	}
	l, err := Open(state, ledger.Options{Shard: s})
	if err != nil {
		return err
	}
	defer l.Close()
	switch mode {
	case "hold":
		fmt.Println("held")
		io.Copy(io.Discard, os.Stdin)
		return nil
	case "write":
		run, err := l.StartRun("job.yaml", "run")
		if err != nil {
			return err
		}
		for w := range 3 {
			if w == 2 {
				testHookBeforeCommit = func() {
					fmt.Println("inside", w)
					time.Sleep(time.Hour) // until killed
				}
			}
			es := make([]ledger.Entry, childWrite)
			for i := range es {
				es[i] = ledgertest.Item(fmt.Sprintf("w%d-%d", w, i), ledger.Loaded, i+2)
			}
			if err := l.Write(run, es, nil, nil); err != nil {
				return err
			}
			fmt.Println("committed", w)
		}
		return errors.New("the third write committed")
	}
	return fmt.Errorf("unknown mode %q", mode)
}

type childProc struct {
	cmd   *exec.Cmd
	lines *bufio.Scanner
	stdin io.WriteCloser
}

func startChild(t *testing.T, mode, state, shard string) *childProc {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"="+mode, "CHILD_STATE="+state, "CHILD_SHARD="+shard)
	cmd.Stderr = os.Stderr
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	stdin, err := cmd.StdinPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	c := &childProc{cmd: cmd, lines: bufio.NewScanner(stdout), stdin: stdin}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	return c
}

// expect reads the child's next line.
func (c *childProc) expect(t *testing.T, want string) {
	t.Helper()
	require.True(t, c.lines.Scan(), "the child ended before saying %q", want)
	require.Equal(t, want, c.lines.Text())
}

// kill ends the child as the kernel's OOM killer or kubectl delete --force
// would: no deferred function runs, the connections are simply gone.
func (c *childProc) kill(t *testing.T) {
	t.Helper()
	require.NoError(t, c.cmd.Process.Signal(syscall.SIGKILL))
	err := c.cmd.Wait()
	var ee *exec.ExitError
	require.ErrorAs(t, err, &ee)
	assert.Equal(t, syscall.SIGKILL, ee.Sys().(syscall.WaitStatus).Signal())
}

// openWhenFree opens a shard whose holder was killed: the server lets go of
// the lock when it sees the connection closed, which takes it a moment.
func openWhenFree(t *testing.T, state string, o ledger.Options) ledger.Ledger {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		l, err := ledger.Open(state, o)
		if err == nil {
			return l
		}
		require.ErrorIs(t, err, ErrInUse)
		require.True(t, time.Now().Before(deadline), "the lock of a killed process was never released: %v", err)
		time.Sleep(20 * time.Millisecond) // polling the server, not standing in for an event
	}
}

// Two processes of one shard cannot both run; other shards run beside; a
// killed holder's lock is released, however it died.
func TestTheRunLockIsPerShardAcrossProcesses(t *testing.T) {
	state := newState(t)
	c := startChild(t, "hold", state, "0/2")
	c.expect(t, "held")

	_, err := ledger.Open(state, ledger.Options{Shard: ledger.Shard{Index: 0, Count: 2}})
	require.ErrorIs(t, err, ErrInUse)
	assert.Contains(t, err.Error(), "shard 0/2 is in use by another msgmigrate run")
	assert.Contains(t, err.Error(), "ledger=")

	l1, err := ledger.Open(state, ledger.Options{Shard: ledger.Shard{Index: 1, Count: 2}})
	require.NoError(t, err, "another shard runs beside it")
	defer l1.Close()
	lu, err := ledger.Open(state, ledger.Options{})
	require.NoError(t, err, "so does the job unsharded (another shard's lock)")
	require.NoError(t, lu.Close())

	c.kill(t)
	l0 := openWhenFree(t, state, ledger.Options{Shard: ledger.Shard{Index: 0, Count: 2}})
	require.NoError(t, l0.Close())
}

// A process killed inside a Write leaves none of that Write; what it had
// committed is all there, and its run is marked died by the next.
func TestAWriteKilledMidwayLeavesAllOrNothing(t *testing.T) {
	state := newState(t)
	c := startChild(t, "write", state, "")
	c.expect(t, "committed 0")
	c.expect(t, "committed 1")
	c.expect(t, "inside 2") // the third write's rows are in, not committed
	c.kill(t)

	l := openWhenFree(t, state, ledger.Options{})
	defer l.Close()
	keys := make([]string, 0, 3*childWrite)
	for w := range 3 {
		for i := range childWrite {
			keys = append(keys, "w"+strconv.Itoa(w)+"-"+strconv.Itoa(i))
		}
	}
	seen := make([]ledger.Seen, len(keys))
	require.NoError(t, l.Lookup(keys, seen))
	known := map[string]int{}
	for i, s := range seen {
		if s.Known {
			known[strings.Split(keys[i], "-")[0]]++
		}
	}
	assert.Equal(t, map[string]int{"w0": childWrite, "w1": childWrite}, known, "the committed writes whole, none of the killed one")
	c2, err := l.Counts()
	require.NoError(t, err)
	assert.Equal(t, int64(2*childWrite), c2.Loaded)

	_, err = l.StartRun("job.yaml", "run")
	require.NoError(t, err)
	runs, err := l.Runs(2)
	require.NoError(t, err)
	require.Len(t, runs, 2)
	assert.Equal(t, "died", runs[1].State)
}
