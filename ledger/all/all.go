// Package all registers every ledger backend.
package all

import (
	_ "github.com/msgmigrate/msgmigrate/ledger/postgres" // postgres:// and postgresql:// URLs
	_ "github.com/msgmigrate/msgmigrate/ledger/sqlite"   // a file path
)
