// Package vendor is what every vendor API source shares besides the
// transport: paging, the incremental window, decoding a vendor's JSON object
// into a record, and the checks on the URLs it follows.
package vendor

import (
	"github.com/msgmigrate/msgmigrate/extract"
	"github.com/msgmigrate/msgmigrate/transport"
)

// NewClient is a vendor source's transport client: the job's rate (or the
// vendor's default, this process's share of it), burst, timeout and retry.
func NewClient(env extract.Env, vendor string, c transport.Config, defaultRate float64, defaultBurst int) *transport.Client {
	return transport.NewClient("source "+vendor, c, defaultRate, defaultBurst, 4, env.RateShare, env.Log)
}
