// Package all links every sink kind into a binary.
package all

import (
	_ "github.com/msgmigrate/msgmigrate/load/jsonl"    // jsonl
	_ "github.com/msgmigrate/msgmigrate/load/mykaarma" // mykaarma
)
