// Package all links every source kind into a binary.
package all

import (
	_ "github.com/msgmigrate/msgmigrate/extract/csv"          // csv
	_ "github.com/msgmigrate/msgmigrate/extract/ezimanager"   // ezimanager
	_ "github.com/msgmigrate/msgmigrate/extract/gorgias"      // gorgias
	_ "github.com/msgmigrate/msgmigrate/extract/jsonl"        // jsonl
	_ "github.com/msgmigrate/msgmigrate/extract/ledgersource" // ledger
	_ "github.com/msgmigrate/msgmigrate/extract/parquet"      // parquet
	_ "github.com/msgmigrate/msgmigrate/extract/superoffice"  // superoffice
	_ "github.com/msgmigrate/msgmigrate/extract/tracezilla"   // tracezilla
	_ "github.com/msgmigrate/msgmigrate/extract/xlsx"         // xlsx
)
