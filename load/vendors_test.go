package load_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"

	"github.com/msgmigrate/msgmigrate/config"
	"github.com/msgmigrate/msgmigrate/load"
	_ "github.com/msgmigrate/msgmigrate/load/all"
	"github.com/msgmigrate/msgmigrate/load/loadtest"
	"github.com/msgmigrate/msgmigrate/msg"
	"github.com/msgmigrate/msgmigrate/sandbox"
)

// The vendors' update sinks pass the sink conformance suite against their
// fakes.
func TestVendorSinksConform(t *testing.T) {
	fake := sandbox.Start(sandbox.Config{
		Gorgias:     sandbox.GorgiasConfig{Email: "e", APIKey: "k", Messages: 5, BucketSize: 1000, LeakPerSecond: 1000},
		Tracezilla:  sandbox.TracezillaConfig{Token: "t", Messages: 5},
		SuperOffice: sandbox.SuperOfficeConfig{Token: "t", Messages: 5},
		EziManager:  sandbox.EziManagerConfig{Email: "e", Password: "p", Messages: 5},
	})
	defer fake.Close()
	gm, tm, sr, ei := fake.Gorgias.Messages()[0], fake.Tracezilla.Messages()[0], fake.SuperOffice.Rows()[0], fake.EziManager.IDs()[0]
	cases := map[string]struct {
		section string
		route   msg.Route
		payload string
	}{
		"gorgias":     {"url: %s\nusername: e\napi_key: k\nrate: 1000/s", msg.Route{fmt.Sprint(gm.TicketID), fmt.Sprint(gm.ID)}, `{"channel":"email","via":"api","from_agent":false,"external_id":"x-1"}`},
		"tracezilla":  {"url: %s\ntoken: t", msg.Route{tm.ID}, `{"sent_at":"2024-01-01T13:25:32.312Z","sent_note":"by hand"}`},
		"superoffice": {"url: %s\ntoken: t", msg.Route{fmt.Sprint(sr.ID)}, `{"Important":true}`},
		"ezimanager":  {"url: %s\nemail: e\npassword: p", msg.Route{ei}, `{"priority":2}`},
	}
	for kind, c := range cases {
		t.Run(kind, func(t *testing.T) {
			open := func(t *testing.T) load.Sink {
				var node yaml.Node
				require.NoError(t, yaml.Unmarshal([]byte(fmt.Sprintf("kind: "+kind+"\n"+c.section, fake.VendorURL(kind))), &node))
				s, err := load.Open(context.Background(), kind, config.Section{File: "job.yaml", Node: node.Content[0]}, load.Env{})
				require.NoError(t, err)
				return s
			}
			loadtest.Run(t, loadtest.Fixture{
				Open: open,
				Batch: func() *load.Batch {
					return loadtest.Items(c.route, 2, func(int) (string, []byte) { return kind + ":" + c.route.String(), []byte(c.payload) })
				},
			})
		})
	}
}
