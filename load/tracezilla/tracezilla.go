// Package tracezilla is the "tracezilla" sink: PUT /messages/{id}/sent with
// sent_at and sent_note — marks a message sent, e.g. with a note naming the
// id it got in the target of a migration.
package tracezilla

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"

	api "github.com/msgmigrate/msgmigrate/api/tracezilla"
	"github.com/msgmigrate/msgmigrate/config"
	"github.com/msgmigrate/msgmigrate/load"
	"github.com/msgmigrate/msgmigrate/msg"
	"github.com/msgmigrate/msgmigrate/transport"
)

func init() { load.Register("tracezilla", open) }

// Config is the tracezilla sink's part of a job file.
type Config struct {
	load.HTTPConfig `yaml:",inline"` // url: https://app.tracezilla.com/api/v1/{team}
	Token           string           `yaml:"token"`
}

func open(_ context.Context, sec config.Section, env load.Env) (load.Sink, error) {
	var c Config
	if err := sec.Decode(&c); err != nil {
		return nil, err
	}
	if c.Token == "" {
		return nil, fmt.Errorf("%s: sink.token is required for tracezilla", sec.File)
	}
	p, err := load.NewPut(env, c.HTTPConfig, transport.MessageOnly(api.ErrorText))
	if err != nil {
		return nil, err
	}
	token := c.Token
	p.Client.Authorize = func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+token) }
	p.Path = func(it *msg.Item) string { return "/messages/" + url.PathEscape(it.Route[0]) + "/sent" }
	p.TargetID = func(body []byte) string {
		var m struct {
			ID string `json:"id"`
		}
		_ = json.Unmarshal(body, &m)
		return m.ID
	}
	return p, nil
}
