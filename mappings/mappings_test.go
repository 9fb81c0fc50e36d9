package mappings_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	_ "github.com/msgmigrate/msgmigrate/api/ezimanager"
	_ "github.com/msgmigrate/msgmigrate/api/gorgias"
	_ "github.com/msgmigrate/msgmigrate/api/mykaarma"
	_ "github.com/msgmigrate/msgmigrate/api/superoffice"
	_ "github.com/msgmigrate/msgmigrate/api/tracezilla"
	"github.com/msgmigrate/msgmigrate/extract"
	"github.com/msgmigrate/msgmigrate/extract/csv"
	"github.com/msgmigrate/msgmigrate/extract/jsonl"
	"github.com/msgmigrate/msgmigrate/mappings"
	"github.com/msgmigrate/msgmigrate/transform"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// fixture is the input a built-in mapping is tested on, with the lookup
// tables a job would give it.
type fixture struct {
	input   string
	lookups []transform.LookupSpec
}

// fixtures names, per built-in mapping, its fixture: a file export, or pages
// recorded from the vendor's list API as JSON lines.
var fixtures = map[string]fixture{
	"csv-to-mykaarma": {input: "../testdata/quickstart/messages.csv"},
	"gorgias-to-mykaarma": {input: "../testdata/gorgias/messages.jsonl", lookups: []transform.LookupSpec{
		{Name: "customers", File: "customers.csv", Key: "email", Value: "customer_uuid", Dir: "../testdata/gorgias"},
		{Name: "departments", File: "departments.csv", Key: "channel", Value: "department_uuid", Dir: "../testdata/gorgias"},
		{Name: "users", File: "users.csv", Key: "email", Value: "user_uuid", Dir: "../testdata/gorgias"},
	}},
	"ezimanager-to-mykaarma": {input: "../testdata/ezimanager/messages.jsonl", lookups: []transform.LookupSpec{
		{Name: "customers", File: "customers.csv", Key: "key", Value: "customer_uuid", Dir: "../testdata/ezimanager"},
		{Name: "departments", File: "departments.csv", Key: "key", Value: "department_uuid", Dir: "../testdata/ezimanager"},
		{Name: "users", File: "users.csv", Key: "sender", Value: "user_uuid", Dir: "../testdata/ezimanager"},
	}},
	"superoffice-to-mykaarma": {input: "../testdata/superoffice/messages.jsonl", lookups: []transform.LookupSpec{
		{Name: "customers", File: "customers.csv", Key: "key", Value: "customer_uuid", Dir: "../testdata/superoffice"},
		{Name: "departments", File: "departments.csv", Key: "key", Value: "department_uuid", Dir: "../testdata/superoffice"},
		{Name: "users", File: "users.csv", Key: "associate", Value: "user_uuid", Dir: "../testdata/superoffice"},
	}},
	"writeback-gorgias":     {input: "../testdata/writeback/gorgias.jsonl"},
	"writeback-tracezilla":  {input: "../testdata/writeback/tracezilla.jsonl"},
	"writeback-superoffice": {input: "../testdata/writeback/superoffice.jsonl"},
	"writeback-ezimanager":  {input: "../testdata/writeback/ezimanager.jsonl"},
	"tracezilla-to-mykaarma": {input: "../testdata/tracezilla/messages.jsonl", lookups: []transform.LookupSpec{
		{Name: "customers", File: "customers.csv", Key: "key", Value: "customer_uuid", Dir: "../testdata/tracezilla"},
		{Name: "departments", File: "departments.csv", Key: "model", Value: "department_uuid", Dir: "../testdata/tracezilla"},
		{Name: "users", File: "users.csv", Key: "user_id", Value: "user_uuid", Dir: "../testdata/tracezilla"},
	}},
}

func TestBuiltinsHaveFixtures(t *testing.T) {
	for _, name := range mappings.Names() {
		assert.Contains(t, fixtures, name, "built-in mapping %s has no fixture test", name)
	}
}

func TestGolden(t *testing.T) {
	for name, fx := range fixtures {
		t.Run(name, func(t *testing.T) {
			data, err := mappings.Read(name)
			require.NoError(t, err)
			m, err := transform.ParseMapping("builtin:"+name, data, ".")
			require.NoError(t, err)
			prog, err := transform.Compile(m, transform.Options{Lookups: fx.lookups})
			require.NoError(t, err)
			var src extract.Source
			if strings.HasSuffix(fx.input, ".jsonl") {
				src, err = jsonl.Open(fx.input, filepath.Base(fx.input))
			} else {
				src, err = csv.Open(fx.input, filepath.Base(fx.input), "", 0)
			}
			require.NoError(t, err)
			defer src.Close()
			mapper := prog.NewMapper()
			var out bytes.Buffer
			for {
				rec, err := src.Next(context.Background())
				if errors.Is(err, io.EOF) {
					break
				}
				require.NoError(t, err)
				it, err := mapper.Map(rec)
				switch {
				case errors.Is(err, transform.ErrSkipped):
					fmt.Fprintf(&out, "# %s: skipped\n", rec.Origin)
				case err != nil:
					fmt.Fprintf(&out, "# %s\n", err)
				default:
					fmt.Fprintf(&out, "# %s %s %s\n", it.Origin, it.Route, it.Key)
					require.True(t, json.Valid(it.Payload), "payload is JSON")
					var pretty bytes.Buffer
					require.NoError(t, json.Indent(&pretty, it.Payload, "", "  "))
					out.Write(pretty.Bytes())
					out.WriteByte('\n')
				}
			}
			golden := filepath.Join("testdata", name+".golden")
			if *update {
				require.NoError(t, os.WriteFile(golden, out.Bytes(), 0o644))
			}
			want, err := os.ReadFile(golden)
			require.NoError(t, err, "run with -update to create it")
			assert.Equal(t, string(want), out.String())
		})
	}
}
