package jsonl

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/msgmigrate/msgmigrate/load"
	"github.com/msgmigrate/msgmigrate/load/loadtest"
	"github.com/msgmigrate/msgmigrate/msg"
)

func batch() *load.Batch {
	return loadtest.Items(msg.Route{"d", "c"}, 3, func(i int) (string, []byte) {
		return fmt.Sprint("k", i), []byte(fmt.Sprintf(`{"n":%d}`, i))
	})
}

func TestConformance(t *testing.T) {
	loadtest.Run(t, loadtest.Fixture{
		Open: func(t *testing.T) load.Sink {
			f, err := os.Create(filepath.Join(t.TempDir(), "out.jsonl"))
			require.NoError(t, err)
			return New(f, f, []string{"department", "customer"})
		},
		Batch: batch,
	})
}

func TestWritesWhatTheTargetWouldReceive(t *testing.T) {
	path := filepath.Join(t.TempDir(), "out.jsonl")
	f, err := os.Create(path)
	require.NoError(t, err)
	s := New(f, f, []string{"department", "customer"})
	_, err = s.Send(context.Background(), batch())
	require.NoError(t, err)
	require.NoError(t, s.Close())
	f, err = os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	sc := bufio.NewScanner(f)
	var lines []map[string]any
	for sc.Scan() {
		var m map[string]any
		require.NoError(t, json.Unmarshal(sc.Bytes(), &m))
		lines = append(lines, m)
	}
	require.Len(t, lines, 3)
	assert.Equal(t, map[string]any{"route": map[string]any{"department": "d", "customer": "c"}, "key": "k1", "payload": map[string]any{"n": float64(1)}}, lines[1])
}
