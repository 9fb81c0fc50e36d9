package load_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
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
			loadtest.Run(t, loadtest.Fixture{
				Open: func(t *testing.T) load.Sink { return openSink(t, fake, kind, c.section) },
				Batch: func() *load.Batch {
					return loadtest.Items(c.route, 2, func(int) (string, []byte) { return kind + ":" + c.route.String(), []byte(c.payload) })
				},
			})
		})
	}
}

func openSink(t *testing.T, fake *sandbox.Running, kind, section string) load.Sink {
	t.Helper()
	var node yaml.Node
	require.NoError(t, yaml.Unmarshal([]byte(fmt.Sprintf("kind: "+kind+"\n"+section, fake.VendorURL(kind))), &node))
	s, err := load.Open(context.Background(), kind, config.Section{File: "job.yaml", Node: node.Content[0]}, load.Env{})
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// A record the vendor does not have fails alone, as NOT_FOUND, with the
// vendor's own words or the record's id: whether the sink reads it first
// (SuperOffice, EziManager merge) or writes it straight away.
func TestVendorSinksFailAMissingRecordAsNotFound(t *testing.T) {
	fake := sandbox.Start(sandbox.Config{
		Gorgias:     sandbox.GorgiasConfig{Email: "e", APIKey: "k", Messages: 1, BucketSize: 1000, LeakPerSecond: 1000},
		Tracezilla:  sandbox.TracezillaConfig{Token: "t", Messages: 1},
		SuperOffice: sandbox.SuperOfficeConfig{Token: "t", Messages: 1},
		EziManager:  sandbox.EziManagerConfig{Email: "e", Password: "p", Messages: 1},
	})
	defer fake.Close()
	cases := map[string]struct {
		section, payload string
		route            msg.Route
		mentions         string
	}{
		"gorgias":     {"url: %s\nusername: e\napi_key: k\nrate: 1000/s", `{"channel":"email","via":"api","from_agent":false,"external_id":"x-1"}`, msg.Route{"999999", "999999"}, "HTTP 404"},
		"tracezilla":  {"url: %s\ntoken: t", `{"sent_at":"2024-01-01T13:25:32.312Z","sent_note":"by hand"}`, msg.Route{"no-such-message"}, "HTTP 404"},
		"superoffice": {"url: %s\ntoken: t", `{"Important":true}`, msg.Route{"999999"}, "ticket message 999999"},
		"ezimanager":  {"url: %s\nemail: e\npassword: p", `{"priority":2}`, msg.Route{"00000000-0000-0000-0000-000000000000"}, "message 00000000-0000-0000-0000-000000000000"},
	}
	for kind, c := range cases {
		t.Run(kind, func(t *testing.T) {
			s := openSink(t, fake, kind, c.section)
			res, err := s.Send(context.Background(), loadtest.Items(c.route, 1, func(int) (string, []byte) { return "k", []byte(c.payload) }))
			var code, message string
			if err != nil {
				var pe *load.PermanentError
				require.ErrorAs(t, err, &pe, "a missing record is not worth another attempt")
				code, message = pe.Code, pe.Error()
			} else {
				require.Len(t, res, 1)
				require.Equal(t, load.Failed, res[0].Status)
				code, message = res[0].Code, res[0].Message
			}
			assert.Equal(t, "NOT_FOUND", code)
			assert.Contains(t, message, c.mentions)
		})
	}
}
