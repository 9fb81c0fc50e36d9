package postgres

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// These need no server: how a state URL is read.

func TestStateURLs(t *testing.T) {
	cases := []struct {
		name, state string
		ledger      string
		schema      string
		where       string
		err         string
	}{
		{name: "plain", state: "postgres://mm@db.internal/migrations?ledger=dealer",
			ledger: "dealer", schema: "msgmigrate", where: "postgres://mm@db.internal/migrations?ledger=dealer"},
		{name: "postgresql scheme and a schema", state: "postgresql://mm@db:6432/migrations?sslmode=require&ledger=dealer&schema=ledgers",
			ledger: "dealer", schema: "ledgers", where: "postgresql://mm@db:6432/migrations?sslmode=require&ledger=dealer&schema=ledgers"},
		{name: "a password in the userinfo", state: "postgres://mm:hunter2@db/migrations?ledger=dealer",
			ledger: "dealer", schema: "msgmigrate", where: "postgres://mm@db/migrations?ledger=dealer"},
		{name: "a password parameter", state: "postgres://mm@db/migrations?password=hunter2&ledger=dealer",
			ledger: "dealer", schema: "msgmigrate", where: "postgres://mm@db/migrations?ledger=dealer"},
		{name: "no ledger", state: "postgres://mm:hunter2@db/migrations",
			err: "postgres://mm@db/migrations names no ledger: add ?ledger=NAME"},
		{name: "a schema PostgreSQL would cut", state: "postgres://mm@db/m?ledger=x&schema=" + strings.Repeat("s", 64),
			err: "is longer than PostgreSQL's 63 bytes"},
		{name: "not a URL", state: "postgres://mm:hunter2@db:port/m?ledger=x",
			err: "not a valid postgres:// URL"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tg, err := parseState(c.state, "")
			if c.err != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), c.err)
				assert.NotContains(t, err.Error(), "hunter2")
				return
			}
			require.NoError(t, err)
			assert.Equal(t, c.ledger, tg.name)
			assert.Equal(t, c.schema, tg.schema)
			assert.Equal(t, c.where, tg.where)
			_, sent := tg.pool.ConnConfig.RuntimeParams["ledger"]
			assert.False(t, sent, "ledger= is ours, not a server setting")
			_, sent = tg.pool.ConnConfig.RuntimeParams["schema"]
			assert.False(t, sent, "schema= is ours, not a server setting")
			assert.Equal(t, "on", tg.pool.ConnConfig.RuntimeParams["synchronous_commit"])
			assert.Contains(t, tg.pool.ConnConfig.RuntimeParams["application_name"], "msgmigrate "+c.ledger)
		})
	}
}

// A driver's message that quotes the password shows it masked.
func TestErrorsNeverShowThePassword(t *testing.T) {
	tg, err := parseState("postgres://mm:p%40ss-w0rd@db/m?ledger=x", "")
	require.NoError(t, err)
	wrapped := tg.wrap(errorString("cannot parse `postgres://mm:p@ss-w0rd@db/m`: p%40ss-w0rd"))
	assert.NotContains(t, wrapped.Error(), "p@ss-w0rd")
	assert.NotContains(t, wrapped.Error(), "p%40ss-w0rd")
	assert.Contains(t, wrapped.Error(), "postgres://mm:xxxxx@db/m")
}

type errorString string

func (e errorString) Error() string { return string(e) }
