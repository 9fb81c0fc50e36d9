// Package gorgias is the "gorgias" sink: PUT /api/tickets/{ticket_id}/messages/{id},
// one message a request — for write-backs (external_id is the integrator's
// field) and corrections.
package gorgias

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	api "github.com/msgmigrate/msgmigrate/api/gorgias"
	"github.com/msgmigrate/msgmigrate/config"
	"github.com/msgmigrate/msgmigrate/load"
	"github.com/msgmigrate/msgmigrate/msg"
	"github.com/msgmigrate/msgmigrate/transport"
)

func init() { load.Register("gorgias", open) }

// Config is the gorgias sink's part of a job file.
type Config struct {
	load.HTTPConfig `yaml:",inline"` // url: https://{sub}.gorgias.com/api; username: the account email
	APIKey          string           `yaml:"api_key"`
}

func open(_ context.Context, sec config.Section, env load.Env) (load.Sink, error) {
	var c Config
	if err := sec.Decode(&c); err != nil {
		return nil, err
	}
	if c.Username == "" || c.APIKey == "" {
		return nil, fmt.Errorf("%s: sink.username and sink.api_key are required for gorgias", sec.File)
	}
	if c.Rate == 0 {
		c.Rate = 1.9 // 95% of the account's 40 requests / 20 s
	}
	p, err := load.NewPut(env, c.HTTPConfig, transport.MessageOnly(api.ErrorText))
	if err != nil {
		return nil, err
	}
	user, key := c.Username, c.APIKey
	p.Client.Authorize = func(r *http.Request) { r.SetBasicAuth(user, key) }
	p.Path = func(it *msg.Item) string {
		path := "/tickets/" + url.PathEscape(it.Route[0]) + "/messages/" + url.PathEscape(it.Route[1])
		if a := action(it.Payload); a != "" {
			path += "?action=" + url.QueryEscape(a)
		}
		return path
	}
	p.Body = func(_ context.Context, it *msg.Item) ([]byte, error) {
		if action(it.Payload) == "" {
			return it.Payload, nil
		}
		var m map[string]json.RawMessage
		if err := json.Unmarshal(it.Payload, &m); err != nil {
			return nil, &transport.Error{Class: transport.Permanent, Code: "PAYLOAD", Err: err}
		}
		delete(m, "action") // a query parameter, not a field
		return json.Marshal(m)
	}
	p.TargetID = func(body []byte) string {
		var m struct {
			ID json.Number `json:"id"`
		}
		_ = json.Unmarshal(body, &m)
		return m.ID.String()
	}
	return p, nil
}

func action(payload []byte) string {
	if !strings.Contains(string(payload), `"action"`) {
		return ""
	}
	var m struct {
		Action string `json:"action"`
	}
	_ = json.Unmarshal(payload, &m)
	return m.Action
}
