package pipeline_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"

	"github.com/msgmigrate/msgmigrate/config"
	"github.com/msgmigrate/msgmigrate/extract"
	"github.com/msgmigrate/msgmigrate/msg"
	"github.com/msgmigrate/msgmigrate/sandbox"
)

// BenchmarkVendorExtraction reads 10 000 messages from each vendor fake on
// loopback (20 ms a request, as over a network) with the source's default
// page size and concurrency; Gorgias at a raised budget, since its real one
// (40 requests / 20 s) caps it at 190 messages/s — see
// extract/gorgias BenchmarkExtractAtTheAccountBudget.
//
//	go test ./pipeline -run XXX -bench VendorExtraction -benchtime 1x
func BenchmarkVendorExtraction(b *testing.B) {
	const n = 10_000
	lat := sandbox.Faults{Latency: 20 * time.Millisecond}
	fake := sandbox.Start(sandbox.Config{
		Gorgias:     sandbox.GorgiasConfig{Email: "e", APIKey: "k", Messages: n, BucketSize: 1000, LeakPerSecond: 1000, Faults: lat},
		Tracezilla:  sandbox.TracezillaConfig{Token: "t", Messages: n, Faults: lat},
		SuperOffice: sandbox.SuperOfficeConfig{Token: "t", Messages: n, Faults: lat},
		EziManager:  sandbox.EziManagerConfig{Email: "e", Password: "p", Messages: n, Faults: lat},
	})
	defer fake.Close()
	dir := b.TempDir()
	var ids []byte
	for _, id := range fake.EziManager.IDs() {
		ids = append(ids, id+"\n"...)
	}
	require.NoError(b, os.WriteFile(filepath.Join(dir, "ids.txt"), ids, 0o644))
	sections := map[string]string{
		"gorgias":     "url: %s\nusername: e\napi_key: k\nrate: 1000/s",
		"tracezilla":  "url: %s\ntoken: t",
		"superoffice": "url: %s\ntoken: t\ntimezone: Europe/Oslo\nexpand: none",
		"ezimanager":  "url: %s\nemail: e\npassword: p\nids: ids.txt\nconcurrency: 8",
	}
	for _, kind := range []string{"gorgias", "superoffice", "tracezilla", "ezimanager"} {
		b.Run(kind, func(b *testing.B) {
			for range b.N {
				var node yaml.Node
				require.NoError(b, yaml.Unmarshal([]byte(fmt.Sprintf("kind: "+kind+"\n"+sections[kind], fake.VendorURL(kind))), &node))
				src, err := extract.Open(context.Background(), kind, config.Section{File: "job.yaml", Node: node.Content[0], Dir: dir}, extract.Env{})
				require.NoError(b, err)
				t0 := time.Now()
				got := 0
				for {
					_, err := src.Next(context.Background())
					if errors.Is(err, io.EOF) {
						break
					}
					var skip *msg.Skip
					if !errors.As(err, &skip) { // a deleted message is read, and left out
						require.NoError(b, err)
					}
					got++
				}
				require.Equal(b, n, got)
				b.ReportMetric(float64(got)/time.Since(t0).Seconds(), "messages/s")
				src.Close()
			}
		})
	}
}
