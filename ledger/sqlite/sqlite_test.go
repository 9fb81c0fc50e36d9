package sqlite_test

import (
	"path/filepath"
	"testing"

	"github.com/msgmigrate/msgmigrate/ledger/ledgertest"
	_ "github.com/msgmigrate/msgmigrate/ledger/sqlite"
)

func TestConformance(t *testing.T) {
	ledgertest.Run(t, ledgertest.Backend{New: func(t *testing.T) string {
		return filepath.Join(t.TempDir(), "state", "job.db")
	}})
}
