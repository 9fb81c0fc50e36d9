package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/msgmigrate/msgmigrate/sandbox"
)

// faultFlags are the sandbox's fault-injection flags, shared by sandbox and
// bench.
func faultFlags(c *cobra.Command, f *sandbox.Faults) {
	fl := c.Flags()
	fl.DurationVar(&f.Latency, "latency", 0, "latency added to every request")
	fl.DurationVar(&f.Jitter, "jitter", 0, "up to this much more latency, at random")
	fl.Float64Var(&f.Throttle, "throttle", 0, "fraction of requests answered 429")
	fl.DurationVar(&f.RetryAfter, "retry-after", time.Second, "Retry-After of a 429 or 503")
	fl.Float64Var(&f.ServerError, "server-errors", 0, "fraction of requests answered 500/503")
	fl.Float64Var(&f.Drop, "drop", 0, "fraction of connections closed without an answer")
	fl.Float64Var(&f.Garble, "garble", 0, "fraction of 200 answers cut short (after storing)")
	fl.Float64Var(&f.Reject, "reject", 0, "fraction of items rejected inside a 200")
	fl.Float64Var(&f.RateLimit, "rate-limit", 0, "requests per second before 429s (0 = none)")
	fl.Uint64Var(&f.Seed, "seed", 1, "seed of the fault dice")
}

func sandboxCmd(g *globals) *cobra.Command {
	var addr string
	var cfg sandbox.MyKaarmaConfig
	var messages int
	c := &cobra.Command{
		Use:   "sandbox",
		Short: "Serve the vendor fakes on localhost, for trials and demos",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg.Username = envOr("MYKAARMA_USER", "sandbox")
			cfg.Password = envOr("MYKAARMA_PASSWORD", "sandbox")
			all := sandbox.Config{
				MyKaarma:    cfg,
				Gorgias:     sandbox.GorgiasConfig{Email: envOr("GORGIAS_EMAIL", "ops@shop.example"), APIKey: envOr("GORGIAS_API_KEY", "sandbox"), Messages: messages},
				Tracezilla:  sandbox.TracezillaConfig{Token: envOr("TRACEZILLA_TOKEN", "sandbox"), Messages: messages},
				SuperOffice: sandbox.SuperOfficeConfig{Ticket: envOr("SUPEROFFICE_TICKET", "sandbox"), AppToken: envOr("SUPEROFFICE_APP_TOKEN", "sandbox"), Token: envOr("SUPEROFFICE_TOKEN", "sandbox"), Messages: messages},
				EziManager:  sandbox.EziManagerConfig{Email: envOr("EZIMANAGER_EMAIL", "ops@store.example"), Password: envOr("EZIMANAGER_PASSWORD", "sandbox"), Messages: messages},
			}
			srv := sandbox.New(all)
			ln, err := net.Listen("tcp", addr)
			if err != nil {
				return err
			}
			base := "http://" + ln.Addr().String()
			fmt.Fprintf(g.stdout, "msgmigrate sandbox on %s (credentials from the environment, default: the examples' defaults)\n", base)
			fmt.Fprintf(g.stdout, "  mykaarma    (sink):   %s%s\n", base, sandbox.MyKaarmaBase)
			fmt.Fprintf(g.stdout, "  gorgias     (source): %s%s  (%d messages)\n", base, sandbox.GorgiasBase, messages)
			fmt.Fprintf(g.stdout, "  superoffice (source): %s%s/Cust12345/api/v1  (state: %s%s/api/state/Cust12345)\n", base, sandbox.SuperOfficePrefix, base, sandbox.SuperOfficePrefix)
			fmt.Fprintf(g.stdout, "  tracezilla  (source): %s%s/demo-team\n", base, sandbox.TracezillaBase)
			fmt.Fprintf(g.stdout, "  ezimanager  (source): %s%s/  (ids: testdata/ezimanager/ids.txt)\n", base, sandbox.EziManagerBase)
			mode := "keeps every payload"
			if cfg.CountOnly {
				mode = "count-only: validates every item, keeps no payload"
			}
			fmt.Fprintf(g.stdout, "  myKaarma stats: GET %s%s, reset: POST %s%s (%s)\n", base, sandbox.StatsPath, base, sandbox.ResetPath, mode)
			hs := &http.Server{Handler: srv.Handler, ReadHeaderTimeout: 10 * time.Second}
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			go func() {
				<-ctx.Done()
				sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				defer cancel()
				hs.Shutdown(sctx)
			}()
			if err := hs.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				return err
			}
			return nil
		},
	}
	c.Flags().StringVar(&addr, "addr", "127.0.0.1:8089", "address to listen on")
	c.Flags().IntVar(&messages, "messages", 500, "messages each source fake serves")
	c.Flags().IntVar(&cfg.MaxItems, "max-items", 0, "items per request before a 400 (0 = 1000)")
	c.Flags().IntVar(&cfg.MaxBodyBytes, "max-body", 0, "body bytes before a 413 (0 = 4 MiB)")
	c.Flags().BoolVar(&cfg.CountOnly, "count-only", false, "myKaarma fake: validate every item as strictly, but keep counts, not payloads (benchmarks: flat memory)")
	faultFlags(c, &cfg.Faults)
	return c
}

func envOr(name, def string) string {
	if v, ok := os.LookupEnv(name); ok && v != "" {
		return v
	}
	return def
}
