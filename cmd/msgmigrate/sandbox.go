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
	var soDates, soZone, soLanguage string
	var gorgias sandbox.GorgiasConfig // the Gorgias fake's readings
	var gorgiasUpdate string
	var tz sandbox.TracezillaConfig
	var eziExpiry, eziRelations string
	var eziTokenUses int
	var eziTokenHeader string
	var user, password string
	var eziTokenObject bool
	c := &cobra.Command{
		Use:   "sandbox",
		Short: "Serve the vendor fakes on localhost, for trials and demos",
		Example: `  msgmigrate sandbox                                   # every fake on 127.0.0.1:8089
  msgmigrate sandbox --latency 20ms --throttle 0.05    # a slower, throttling myKaarma`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			so, err := superOfficeReadings(soDates, soZone, soLanguage)
			if err != nil {
				return err
			}
			switch tz.Paging {
			case sandbox.TracezillaPagingNext, sandbox.TracezillaPagingNextPage, sandbox.TracezillaPagingBoth:
			default:
				return fmt.Errorf("--tracezilla-paging %q: want next, next_page or both", tz.Paging)
			}
			tz.Token, tz.Messages = envOr("TRACEZILLA_TOKEN", "sandbox"), messages
			ezi, err := eziManagerReadings(eziExpiry, eziRelations)
			if err != nil {
				return err
			}
			ezi.TokenUses = eziTokenUses
			switch cfg.Answer {
			case sandbox.AnswerBoth, sandbox.AnswerLists, sandbox.AnswerEntries:
			default:
				return fmt.Errorf("--mykaarma-answer %q: want both, lists or entries", cfg.Answer)
			}
			// The myKaarma fake's credentials: the flags, else the
			// environment the examples read, else "sandbox". A wrong one
			// is refused with a 401, so a failed login can be rehearsed.
			cfg.Username, cfg.Password = user, password
			if cfg.Username == "" {
				cfg.Username = envOr("MYKAARMA_USER", "sandbox")
			}
			if cfg.Password == "" {
				cfg.Password = envOr("MYKAARMA_PASSWORD", "sandbox")
			}
			all := sandbox.Config{
				MyKaarma:   cfg,
				Gorgias:    sandbox.GorgiasConfig{Email: envOr("GORGIAS_EMAIL", "ops@shop.example"), APIKey: envOr("GORGIAS_API_KEY", "sandbox"), Messages: messages},
				Tracezilla: tz,
				SuperOffice: sandbox.SuperOfficeConfig{Ticket: envOr("SUPEROFFICE_TICKET", "sandbox"), AppToken: envOr("SUPEROFFICE_APP_TOKEN", "sandbox"), Token: envOr("SUPEROFFICE_TOKEN", "sandbox"), Messages: messages,
					BaseZone: so.BaseZone, Dates: so.Dates, Language: so.Language},
				EziManager: sandbox.EziManagerConfig{Email: envOr("EZIMANAGER_EMAIL", "ops@store.example"), Password: envOr("EZIMANAGER_PASSWORD", "sandbox"), Messages: messages,
					Expiry: ezi.Expiry, Relations: ezi.Relations, TokenUses: ezi.TokenUses, TokenHeader: eziTokenHeader, TokenObject: eziTokenObject},
			}
			if u := sandbox.GorgiasUpdate(gorgiasUpdate); u != sandbox.GorgiasPartial && u != sandbox.GorgiasReplace {
				return fmt.Errorf("--gorgias-update %q: want partial or replace", gorgiasUpdate)
			}
			all.Gorgias.Update, all.Gorgias.NoEcho = sandbox.GorgiasUpdate(gorgiasUpdate), gorgias.NoEcho
			all.Gorgias.OtherApps, all.Gorgias.ExpiredCursor = gorgias.OtherApps, gorgias.ExpiredCursor
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
			fmt.Fprintf(g.stdout, "  tracezilla  (source): %s%s/demo-team  (paging: %s)\n", base, sandbox.TracezillaBase, tz.Paging)
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
	c.Flags().StringVar(&user, "user", "", "the myKaarma fake's user (default: $MYKAARMA_USER, else sandbox)")
	c.Flags().StringVar(&password, "password", "", "the myKaarma fake's password (default: $MYKAARMA_PASSWORD, else sandbox)")
	c.Flags().IntVar(&messages, "messages", 500, "messages each source fake serves")
	c.Flags().IntVar(&cfg.MaxItems, "max-items", 0, "items per request before a 400 (0 = 1000)")
	c.Flags().IntVar(&cfg.MaxBodyBytes, "max-body", 0, "body bytes before a 413 (0 = 4 MiB)")
	c.Flags().StringVar(&soDates, "superoffice-dates", "offset", "how the SuperOffice fake writes dates: offset (SO-TimeZone honoured, -0500), colon (+01:00), no-offset, ignored")
	c.Flags().StringVar(&soZone, "superoffice-zone", "Europe/Oslo", "the SuperOffice fake tenant's base time zone")
	c.Flags().StringVar(&soLanguage, "superoffice-language", "honoured", "how the SuperOffice fake writes list values: honoured (Accept-Language), lower, raw")
	c.Flags().StringVar(&eziExpiry, "ezimanager-expiry", "401", "how the EziManager fake answers an expired session: 401, 403, redirect (302 to its login page), login-page (200 text/html)")
	c.Flags().StringVar(&eziRelations, "ezimanager-relations", "saved", "what the EziManager fake does with the relation members (external, stores, …): saved, ignored (a PUT answers 200 and keeps them), not-loaded (read as null, kept)")
	c.Flags().IntVar(&eziTokenUses, "ezimanager-token-uses", 0, "requests an EziManager session lasts (0 = it never expires)")
	c.Flags().StringVar(&eziTokenHeader, "ezimanager-token-header", "", `how the EziManager fake expects the token, "Header: prefix" (default: the client's, Authorization: Bearer)`)
	c.Flags().BoolVar(&eziTokenObject, "ezimanager-token-object", false, `the EziManager fake answers a login with {"token": …} instead of the JSON string its page shows`)
	c.Flags().StringVar(&cfg.Answer, "mykaarma-answer", sandbox.AnswerBoth, "which part of myKaarma's 200 carries the items' outcomes: both, lists (succesfullySubmittedSourceUuids/failedSourceUuids only) or entries (saveMessageResponse only)")
	c.Flags().BoolVar(&cfg.CountOnly, "count-only", false, "myKaarma fake: validate every item as strictly, but keep counts, not payloads (benchmarks: flat memory)")
	faultFlags(c, &cfg.Faults)
	// Gorgias's undocumented behaviours: pick a reading (VENDORS.md [!]).
	c.Flags().StringVar(&gorgiasUpdate, "gorgias-update", "partial", "how the Gorgias fake reads an update: partial (only the fields sent change) or replace (fields not sent are cleared)")
	c.Flags().BoolVar(&gorgias.NoEcho, "gorgias-no-echo", false, "the Gorgias fake answers an update with {} instead of the message")
	c.Flags().Float64Var(&gorgias.OtherApps, "gorgias-other-apps", 0, "calls a second other apps spend from the Gorgias account's budget")
	c.Flags().IntVar(&gorgias.ExpiredCursor, "gorgias-expired-cursor", 400, "the status the Gorgias fake answers an expired cursor with (400, 404, 410, 422)")
	// tracezilla's readings (VENDORS.md): which its fake serves.
	c.Flags().StringVar(&tz.Paging, "tracezilla-paging", sandbox.TracezillaPagingNext, "tracezilla's paging keys: next (links.next and meta), next_page (links.next_page, no meta) or both")
	c.Flags().BoolVar(&tz.LinksWithoutQuery, "tracezilla-bare-links", false, "tracezilla's page links carry only ?page=N")
	c.Flags().BoolVar(&tz.NoStatus, "tracezilla-no-status", false, "tracezilla's messages do not show their status")
	c.Flags().BoolVar(&tz.HideNote, "tracezilla-no-note", false, "tracezilla's messages do not show sent_note")
	c.Flags().BoolVar(&tz.Wrap, "tracezilla-wrap", false, "tracezilla wraps a single message in {\"data\": …}")
	return c
}

// superOfficeReadings reads the sandbox's SuperOffice reading flags.
func superOfficeReadings(dates, zone, language string) (sandbox.SuperOfficeConfig, error) {
	var c sandbox.SuperOfficeConfig
	d, ok := sandbox.SODatesReadings[dates]
	if !ok {
		return c, fmt.Errorf("--superoffice-dates %q: want offset, colon, no-offset or ignored", dates)
	}
	if _, err := time.LoadLocation(zone); err != nil {
		return c, fmt.Errorf("--superoffice-zone %q: %w", zone, err)
	}
	l, ok := map[string]sandbox.SOLanguage{"honoured": sandbox.SOLanguageHonoured, "lower": sandbox.SOLanguageLower, "raw": sandbox.SOLanguageRaw}[language]
	if !ok {
		return c, fmt.Errorf("--superoffice-language %q: want honoured, lower or raw", language)
	}
	c.Dates, c.BaseZone, c.Language = d, zone, l
	return c, nil
}

// eziManagerReadings reads the sandbox's EziManager reading flags.
func eziManagerReadings(expiry, relations string) (sandbox.EziManagerConfig, error) {
	var c sandbox.EziManagerConfig
	e, ok := sandbox.EziExpiryReadings[expiry]
	if !ok {
		return c, fmt.Errorf("--ezimanager-expiry %q: want 401, 403, redirect or login-page", expiry)
	}
	r, ok := sandbox.EziRelationsReadings[relations]
	if !ok {
		return c, fmt.Errorf("--ezimanager-relations %q: want saved, ignored or not-loaded", relations)
	}
	c.Expiry, c.Relations = e, r
	return c, nil
}

func envOr(name, def string) string {
	if v, ok := os.LookupEnv(name); ok && v != "" {
		return v
	}
	return def
}
