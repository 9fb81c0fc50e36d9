// Package superoffice is the "superoffice" sink: PUT /api/v1/TicketMessage/{id}?notify=false.
// A PUT replaces the entity, so by default (merge: true) the current entity
// is read first and the mapped fields laid over it. It never notifies anyone
// and never calls /Send.
package superoffice

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"

	api "github.com/msgmigrate/msgmigrate/api/superoffice"
	"github.com/msgmigrate/msgmigrate/config"
	"github.com/msgmigrate/msgmigrate/load"
	"github.com/msgmigrate/msgmigrate/msg"
	"github.com/msgmigrate/msgmigrate/transport"
)

func init() { load.Register("superoffice", open) }

// Config is the superoffice sink's part of a job file.
type Config struct {
	load.HTTPConfig `yaml:",inline"` // url: https://{env}.superoffice.com/{CustNNNNN}/api/v1
	Token           string           `yaml:"token"`
	Ticket          string           `yaml:"ticket"`
	AppToken        string           `yaml:"app_token"`
	Merge           *bool            `yaml:"merge"` // default true
}

func open(_ context.Context, sec config.Section, env load.Env) (load.Sink, error) {
	var c Config
	if err := sec.Decode(&c); err != nil {
		return nil, err
	}
	if c.Token == "" && (c.Ticket == "" || c.AppToken == "") {
		return nil, fmt.Errorf("%s: superoffice needs sink.token, or sink.ticket with sink.app_token", sec.File)
	}
	p, err := load.NewPut(env, c.HTTPConfig, transport.MessageOnly(api.ErrorText))
	if err != nil {
		return nil, err
	}
	p.Client.Authorize = func(r *http.Request) {
		if c.Token != "" {
			r.Header.Set("Authorization", "Bearer "+c.Token)
			return
		}
		r.Header.Set("Authorization", "SOTicket "+c.Ticket)
		r.Header.Set("SO-AppToken", c.AppToken)
	}
	// notify=false, always: a migration must not notify anyone.
	p.Path = func(it *msg.Item) string { return "/TicketMessage/" + url.PathEscape(it.Route[0]) + "?notify=false" }
	if c.Merge == nil || *c.Merge {
		p.Body = func(ctx context.Context, it *msg.Item) ([]byte, error) { return merge(ctx, p, it) }
	}
	p.TargetID = func(body []byte) string {
		var m struct {
			ID json.Number `json:"EjMessageId"`
		}
		_ = json.Unmarshal(body, &m)
		return m.ID.String()
	}
	return p, nil
}

// merge reads the current entity and lays the mapped fields over it.
func merge(ctx context.Context, p *load.Put, it *msg.Item) ([]byte, error) {
	body, err := p.Get(ctx, "/TicketMessage/"+url.PathEscape(it.Route[0]), "ticket message "+it.Route[0])
	if err != nil {
		return nil, err
	}
	var entity map[string]any
	if err := json.Unmarshal(body, &entity); err != nil {
		return nil, &transport.Error{Class: transport.Retry, Code: "UNREADABLE_ANSWER", Err: fmt.Errorf("unreadable entity: %w", err)}
	}
	var fields map[string]any
	if err := json.Unmarshal(it.Payload, &fields); err != nil {
		return nil, &transport.Error{Class: transport.Permanent, Code: "PAYLOAD", Err: err}
	}
	deepMerge(entity, fields)
	return json.Marshal(entity)
}

// deepMerge lays src over dst; objects merge member by member, so setting
// one custom field keeps the others.
func deepMerge(dst, src map[string]any) {
	for k, v := range src {
		if sv, ok := v.(map[string]any); ok {
			if dv, ok := dst[k].(map[string]any); ok {
				deepMerge(dv, sv)
				continue
			}
		}
		dst[k] = v
	}
}
