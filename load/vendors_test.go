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
	"github.com/msgmigrate/msgmigrate/transport"
)

// The vendors' update sinks pass the sink conformance suite against their
// fakes (tracezilla's, which marks only messages shown as sent, in
// load/tracezilla; EziManager's, under each reading, in load/ezimanager).
func TestVendorSinksConform(t *testing.T) {
	fake := startVendors(t, 5)
	gm, sr := fake.Gorgias.Messages()[0], fake.SuperOffice.Rows()[0]
	cases := map[string]struct{ route msg.Route }{
		"gorgias":     {msg.Route{fmt.Sprint(gm.TicketID), fmt.Sprint(gm.ID)}},
		"superoffice": {msg.Route{fmt.Sprint(sr.ID)}},
	}
	for kind, c := range cases {
		t.Run(kind, func(t *testing.T) {
			loadtest.Run(t, loadtest.Fixture{
				Open: func(t *testing.T) load.Sink { return openSink(t, fake, kind) },
				Batch: func() *load.Batch {
					return loadtest.Items(c.route, 2, func(int) (string, []byte) { return kind + ":" + c.route.String(), []byte(payloads[kind]) })
				},
			})
		})
	}
}

// startVendors starts the four vendors' fakes with n messages each, with the
// credentials sections gives the sinks.
func startVendors(t *testing.T, n int) *sandbox.Running {
	t.Helper()
	fake := sandbox.Start(sandbox.Config{
		Gorgias:     sandbox.GorgiasConfig{Email: "e", APIKey: "k", Messages: n, BucketSize: 1000, LeakPerSecond: 1000},
		SuperOffice: sandbox.SuperOfficeConfig{Token: "t", Messages: n},
	})
	t.Cleanup(fake.Close)
	return fake
}

// payloads are a valid update for each sink.
var payloads = map[string]string{
	"gorgias":     `{"channel":"email","via":"api","from_agent":false,"external_id":"x-1"}`,
	"superoffice": `{"Important":true}`,
}

// sections are each sink's job section (%s: the fake's URL).
var sections = map[string]string{
	"gorgias":     "url: %s\nusername: e\napi_key: k\nrate: 1000/s",
	"superoffice": "url: %s\ntoken: t",
}

func openSink(t *testing.T, fake *sandbox.Running, kind string) load.Sink {
	t.Helper()
	var node yaml.Node
	require.NoError(t, yaml.Unmarshal([]byte(fmt.Sprintf("kind: "+kind+"\n"+sections[kind], fake.VendorURL(kind))), &node))
	s, err := load.Open(context.Background(), kind, config.Section{File: "job.yaml", Node: node.Content[0]}, load.Env{})
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// A record the vendor does not have fails alone, as NOT_FOUND, with the
// vendor's own words or the record's id: whether the sink reads it first
// (SuperOffice) or writes it straight away (tracezilla's and EziManager's
// are in their own packages).
func TestVendorSinksFailAMissingRecordAsNotFound(t *testing.T) {
	fake := startVendors(t, 1)
	cases := map[string]struct {
		route    msg.Route
		mentions string
	}{
		"gorgias":     {msg.Route{"999999", "999999"}, "HTTP 404"},
		"superoffice": {msg.Route{"999999"}, "ticket message 999999"},
	}
	for kind, c := range cases {
		t.Run(kind, func(t *testing.T) {
			s := openSink(t, fake, kind)
			res, err := s.Send(context.Background(), loadtest.Items(c.route, 1, func(int) (string, []byte) { return "k", []byte(payloads[kind]) }))
			var code, message string
			if err != nil {
				var pe *transport.Error
				require.ErrorAs(t, err, &pe)
				require.Equal(t, transport.Permanent, pe.Class, "a missing record is not worth another attempt")
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
