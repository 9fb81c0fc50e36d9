package superoffice

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"

	api "github.com/msgmigrate/msgmigrate/api/superoffice"
	"github.com/msgmigrate/msgmigrate/config"
	"github.com/msgmigrate/msgmigrate/extract"
	"github.com/msgmigrate/msgmigrate/extract/extracttest"
	"github.com/msgmigrate/msgmigrate/msg"
	"github.com/msgmigrate/msgmigrate/sandbox"
)

// faults are on in every test that reads a listing: 429s with Retry-After,
// 5xx, dropped connections, answers cut short.
var faults = sandbox.Faults{ServerError: 0.08, Drop: 0.03, Throttle: 0.05, Garble: 0.05, Seed: 8}

func fake(t *testing.T, cfg sandbox.SuperOfficeConfig) *sandbox.Running {
	t.Helper()
	cfg.Token, cfg.Ticket, cfg.AppToken = "bearer-tok", "tkt", "app"
	s := sandbox.Start(sandbox.Config{SuperOffice: cfg})
	t.Cleanup(s.Close)
	return s
}

const retry = "retry: {max_attempts: 12, base_delay: 1ms, max_delay: 5ms, max_retry_after: 5ms}\n"

func openSource(t *testing.T, section string) *Source {
	t.Helper()
	x, err := tryOpen(section)
	require.NoError(t, err)
	return x
}

func tryOpen(section string) (*Source, error) {
	var node yaml.Node
	if err := yaml.Unmarshal([]byte("kind: superoffice\n"+retry+section), &node); err != nil {
		return nil, err
	}
	x, err := open(context.Background(), config.Section{File: "job.yaml", Node: node.Content[0]}, extract.Env{})
	if err != nil {
		return nil, err
	}
	return x.(*Source), nil
}

// archiveFields is a message as the source hands out its archive row with
// the default columns.
func archiveFields(m sandbox.SuperOfficeMessage) map[string]any {
	var pid any = ""
	if m.PersonID > 0 {
		pid = m.PersonID
	}
	return map[string]any{
		"PrimaryKey": m.ID, "EntityName": "ticketmessage", "ticketMessageId": m.ID, "ticketId": m.TicketID,
		"createdAt": m.Created, "author": m.Author, "slevel": m.Slevel, "searchTitle": m.SearchTitle, "body": m.Body,
		"htmlBody": m.HTMLBody, "messageId": m.MessageID, "important": m.Important,
		"ticket": map[string]any{"title": m.TicketTitle, "person": map[string]any{"personId": m.TicketPersonID}},
		"person": map[string]any{"personId": pid, "fullName": m.PersonName}, "direction": api.Unknown,
	}
}

func readAll(t testing.TB, src extract.Source) (recs []*msg.Record, skips []*msg.Skip, errs []error, err error) {
	t.Helper()
	for {
		rec, e := src.Next(context.Background())
		var sk *msg.Skip
		var me *msg.Error
		switch {
		case errors.Is(e, io.EOF):
			return recs, skips, errs, nil
		case errors.As(e, &sk):
			skips = append(skips, sk)
		case errors.As(e, &me):
			errs = append(errs, me)
		case e != nil:
			return recs, skips, errs, e
		default:
			recs = append(recs, rec)
		}
	}
}

func TestConformance(t *testing.T) {
	s := fake(t, sandbox.SuperOfficeConfig{Messages: 230})
	var want []map[string]any
	for _, m := range s.SuperOffice.Rows() {
		want = append(want, archiveFields(m))
	}
	extracttest.Run(t, extracttest.Fixture{
		Open: func(t *testing.T) extract.Source {
			return openSource(t, "url: "+s.VendorURL("superoffice")+"\ntoken: bearer-tok\ntop: 50\nexpand: none\ntimezone: Europe/Oslo\n")
		},
		Records: want,
	})
}

// checkAll asserts what a user checks: every message once, with its time,
// level and direction as they are.
func checkAll(t *testing.T, truth []sandbox.SuperOfficeMessage, recs []*msg.Record, expand bool) {
	t.Helper()
	byID := map[int64]sandbox.SuperOfficeMessage{}
	for _, m := range truth {
		byID[m.ID] = m
	}
	seen := map[int64]bool{}
	for _, r := range recs {
		id := r.Fields["ticketMessageId"].(int64)
		require.False(t, seen[id], "message %d handed out twice", id)
		seen[id] = true
		m, ok := byID[id]
		require.True(t, ok, "message %d is not the tenant's", id)
		assert.Equal(t, m.Created, r.Fields["createdAt"], "message %d's time", id)
		assert.Equal(t, m.Slevel, r.Fields["slevel"], "message %d's level", id)
		if expand {
			assert.Equal(t, m.Direction, r.Fields["direction"], "message %d's direction", id)
			e := r.Fields["entity"].(map[string]any)
			assert.Equal(t, m.Created, e["CreatedAt"], "message %d's entity time", id)
		}
	}
	assert.Len(t, seen, len(truth), "every message")
}

// Every reading of the dates (SO-TimeZone honoured with -0500 or +01:00,
// without the offset, ignored), of the languages (translated, lower case,
// never translated) and of an incoming message's creator, with the job
// asking for the base zone by its code or asking for none: every message
// once, at its instant, with its level and direction — with faults on.
func TestEveryReading(t *testing.T) {
	type reading struct {
		name string
		cfg  sandbox.SuperOfficeConfig
		job  string
	}
	var cases []reading
	for dname, d := range sandbox.SODatesReadings {
		for _, job := range []string{"timezone: Europe/Oslo\nso_timezone: NO\n", "timezone: Europe/Oslo\n"} {
			cases = append(cases, reading{fmt.Sprintf("dates %s, %q", dname, strings.TrimSpace(job)), sandbox.SuperOfficeConfig{Dates: d}, job})
		}
	}
	cases = append(cases,
		reading{"base zone New York, asked by id", sandbox.SuperOfficeConfig{BaseZone: "America/New_York"}, "timezone: America/New_York\nso_timezone: \"460\"\n"},
		reading{"lower-case levels", sandbox.SuperOfficeConfig{Language: sandbox.SOLanguageLower}, "timezone: Europe/Oslo\n"},
		reading{"untranslated levels", sandbox.SuperOfficeConfig{Language: sandbox.SOLanguageRaw}, "timezone: Europe/Oslo\n"},
		reading{"incoming: creator id 0", sandbox.SuperOfficeConfig{Incoming: sandbox.SOIncomingZero}, "timezone: Europe/Oslo\n"},
		reading{"incoming: the system user", sandbox.SuperOfficeConfig{Incoming: sandbox.SOIncomingSystem}, "timezone: Europe/Oslo\n"},
		reading{"replies name their person", sandbox.SuperOfficeConfig{RepliesNamePerson: true}, "timezone: Europe/Oslo\n"},
	)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			c.cfg.Messages, c.cfg.Faults = 120, faults
			s := fake(t, c.cfg)
			src := openSource(t, "url: "+s.VendorURL("superoffice")+"\ntoken: bearer-tok\ntop: 25\n"+c.job)
			recs, skips, errs, err := readAll(t, src)
			require.NoError(t, err)
			require.Empty(t, errs)
			require.Empty(t, skips)
			checkAll(t, s.SuperOffice.Rows(), recs, true)
			assert.Positive(t, s.SuperOffice.Stats.Faulted.Load()+s.SuperOffice.Stats.Throttled.Load(), "faults were on")
		})
	}
}

// The archive moves while it is read: messages added before the position
// (later rows move forward: $skip repeats them), messages deleted before it
// (later rows move back: $skip would jump over some), messages added at the
// end. Every message is handed out once, the new ones too.
func TestPagingOverAChangingArchive(t *testing.T) {
	cases := map[string]sandbox.SuperOfficeConfig{
		"added before":     {Shift: 3},
		"deleted":          {Delete: 4},
		"added at the end": {Grow: 5},
		"all at once":      {Shift: 2, Delete: 3, Grow: 2},
	}
	for name, cfg := range cases {
		t.Run(name, func(t *testing.T) {
			cfg.Messages, cfg.Faults = 200, faults
			s := fake(t, cfg)
			before := s.SuperOffice.Rows()
			src := openSource(t, "url: "+s.VendorURL("superoffice")+"\ntoken: bearer-tok\ntop: 30\nexpand: none\ntimezone: Europe/Oslo\n")
			recs, _, errs, err := readAll(t, src)
			require.NoError(t, err)
			require.Empty(t, errs)
			seen := map[int64]bool{}
			for _, r := range recs {
				id := r.Fields["ticketMessageId"].(int64)
				require.False(t, seen[id], "message %d handed out twice", id)
				seen[id] = true
			}
			for _, m := range before {
				assert.True(t, seen[m.ID], "message %d, there when the run began, was read", m.ID)
			}
			for _, m := range s.SuperOffice.Rows() {
				if m.Created.After(before[len(before)-1].Created) {
					assert.True(t, seen[m.ID], "message %d, added at the end, was read", m.ID)
				}
			}
			if cfg.Shift > 0 || cfg.Delete > 0 {
				require.Len(t, src.Hints(), 1)
				assert.Contains(t, src.Hints()[0], "the archive changed while it was read")
			}
		})
	}
}

// More deleted at once than the source looks back for: the read says it is
// not complete, rather than ending as if it were.
func TestAnArchiveThatMovesTooFastIsNotACompleteRead(t *testing.T) {
	s := fake(t, sandbox.SuperOfficeConfig{Messages: 1000, Delete: 200})
	src := openSource(t, "url: "+s.VendorURL("superoffice")+"\ntoken: bearer-tok\ntop: 10\nexpand: none\ntimezone: Europe/Oslo\n")
	_, _, _, err := readAll(t, src)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "the read is not complete")
}

// A next link that points at its own page is an error, not a loop.
func TestALoopingNextLinkIsAnError(t *testing.T) {
	s := fake(t, sandbox.SuperOfficeConfig{Messages: 50, LoopNextLink: true})
	src := openSource(t, "url: "+s.VendorURL("superoffice")+"\ntoken: bearer-tok\ntop: 10\nexpand: none\ntimezone: Europe/Oslo\n")
	_, _, _, err := readAll(t, src)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "points at the page it came with")
	assert.EqualValues(t, 1, s.SuperOffice.Stats.Pages.Load(), "one page, then the stop")
}

// since asks the server for the newer messages, its literal written in the
// zone the server reads it in — whichever reading of SO-TimeZone.
func TestSinceAsksTheServerToFilter(t *testing.T) {
	for name, d := range sandbox.SODatesReadings {
		t.Run(name, func(t *testing.T) {
			s := fake(t, sandbox.SuperOfficeConfig{Messages: 300, Dates: d})
			rows := s.SuperOffice.Rows()
			src := openSource(t, "url: "+s.VendorURL("superoffice")+"\ntoken: bearer-tok\ntop: 40\nexpand: none\ntimezone: Europe/Oslo\nso_timezone: NO\n")
			src.Since(rows[200].Created)
			recs, _, _, err := readAll(t, src)
			require.NoError(t, err)
			var newer []sandbox.SuperOfficeMessage
			for _, m := range rows {
				if m.Created.After(rows[200].Created) {
					newer = append(newer, m)
				}
			}
			checkAll(t, newer, recs, false)
			assert.LessOrEqual(t, s.SuperOffice.Stats.Pages.Load(), int64(4), "only the newer pages were asked for")
		})
	}
}

// A message deleted after it was listed is skipped, by that reason; one
// whose row cannot be read fails alone.
func TestAMessageGoneBeforeItsEntityIsSkipped(t *testing.T) {
	s := fake(t, sandbox.SuperOfficeConfig{Messages: 30})
	gone := s.SuperOffice.Rows()[7].ID
	s2 := fake(t, sandbox.SuperOfficeConfig{Messages: 30, Vanished: []int64{gone}})
	src := openSource(t, "url: "+s2.VendorURL("superoffice")+"\ntoken: bearer-tok\ntimezone: Europe/Oslo\n")
	recs, skips, errs, err := readAll(t, src)
	require.NoError(t, err)
	assert.Empty(t, errs)
	require.Len(t, skips, 1)
	assert.Equal(t, "deleted", skips[0].Reason)
	assert.Equal(t, fmt.Sprintf("superoffice message %d", gone), skips[0].Origin.String())
	assert.Len(t, recs, 29)
}

// The tenant's host comes from the state endpoint; SOTicket with the
// application token authenticates.
func TestStateDiscoveryAndTicketAuth(t *testing.T) {
	s := fake(t, sandbox.SuperOfficeConfig{Messages: 80, Faults: faults})
	src := openSource(t, fmt.Sprintf("state_url: %s/superoffice/api/state/Cust12345\nticket: tkt\napp_token: app\ntop: 30\ntimezone: Europe/Oslo\n", s.URL()))
	recs, _, errs, err := readAll(t, src)
	require.NoError(t, err)
	require.Empty(t, errs)
	checkAll(t, s.SuperOffice.Rows(), recs, true)
}

// A Bearer token that expires is renewed with the refresh grant, and the
// listing goes on.
func TestAnExpiringTokenIsRenewed(t *testing.T) {
	fk := sandbox.Start(sandbox.Config{SuperOffice: sandbox.SuperOfficeConfig{Token: "first", TokenUses: 15, Messages: 100,
		ClientID: "cid", ClientSecret: "csecret", RefreshToken: "rtok", Faults: faults}})
	defer fk.Close()
	src := openSource(t, "url: "+fk.VendorURL("superoffice")+"\ntoken: first\nrefresh_token: rtok\nclient_id: cid\nclient_secret: csecret\ntop: 20\ntimezone: Europe/Oslo\n")
	recs, _, errs, err := readAll(t, src)
	require.NoError(t, err)
	require.Empty(t, errs)
	checkAll(t, fk.SuperOffice.Rows(), recs, true)
	assert.Greater(t, fk.SuperOffice.Stats.Tokens.Load(), int64(3), "renewed as the tokens ran out")
}

func TestConfigurationErrors(t *testing.T) {
	cases := map[string]string{
		"url: http://x\nticket: only-ticket\ntimezone: UTC\n":                        "source.ticket with source.app_token",
		"url: http://x\ntoken: t\n":                                                  "source.timezone",
		"url: http://x\ntoken: t\ntimezone: Mars/Olympus\n":                          "Mars/Olympus",
		"url: http://x\ntoken: t\ntimezone: UTC\nexpand: all\n":                      "source.expand",
		"url: http://x\ntoken: t\ntimezone: UTC\ntop: 1\n":                           "source.top",
		"url: http://x\nrefresh_token: r\ntimezone: UTC\n":                           "client_id",
		"token: t\ntimezone: UTC\n":                                                  "source.url",
		"url: http://x\ntoken: t\ntimezone: UTC\nselect: [ticketMessageId]\nid: 1\n": "id",
	}
	for section, want := range cases {
		_, err := tryOpen(section)
		require.Error(t, err, section)
		assert.Contains(t, err.Error(), want, section)
	}
}

func TestWrongCredentialsStopWithoutShowingThem(t *testing.T) {
	s := fake(t, sandbox.SuperOfficeConfig{Messages: 5})
	src := openSource(t, "url: "+s.VendorURL("superoffice")+"\ntoken: wr0ng-t0k3n\ntimezone: UTC\n")
	_, _, _, err := readAll(t, src)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "HTTP 401")
	assert.NotContains(t, err.Error(), "wr0ng-t0k3n")
}

func TestColumns(t *testing.T) {
	src := openSource(t, "url: http://x\ntoken: t\ntimezone: UTC\nselect: [ticket/title, body]\n")
	assert.Equal(t, []string{"createdAt", "ticketMessageId", "ticket", "body", "PrimaryKey", "EntityName", "direction", "entity"}, src.Columns())
	_ = time.Now
}
