// Package all links every sink kind into a binary.
package all

import (
	_ "github.com/msgmigrate/msgmigrate/load/ezimanager"  // ezimanager
	_ "github.com/msgmigrate/msgmigrate/load/gorgias"     // gorgias
	_ "github.com/msgmigrate/msgmigrate/load/jsonl"       // jsonl
	_ "github.com/msgmigrate/msgmigrate/load/mykaarma"    // mykaarma
	_ "github.com/msgmigrate/msgmigrate/load/superoffice" // superoffice
	_ "github.com/msgmigrate/msgmigrate/load/tracezilla"  // tracezilla
)
