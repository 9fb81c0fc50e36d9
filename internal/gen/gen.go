// Package gen writes synthetic message exports for benchmarks and tests:
// realistic rows (multi-line, multi-byte, quoted) with routes interleaved
// the way a real export interleaves customers.
package gen

import (
	"bufio"
	"encoding/csv"
	"fmt"
	"io"
	"math/rand/v2"
	"time"

	"github.com/google/uuid"
)

// Header is the column set of generated CSV files; the built-in mapping
// csv-to-mykaarma reads these columns.
var Header = []string{"id", "department_uuid", "customer_uuid", "channel", "direction", "sent_at", "created_at", "subject", "body_text", "body_html", "user_uuid", "attachment_url"}

// Spec says what to generate.
type Spec struct {
	Rows   int
	Routes int    // distinct (department, customer) pairs, interleaved at random
	Seed   uint64 // same seed, same file
}

var bodies = []string{
	"Hi, your vehicle is ready for pickup at 5pm.",
	"Can we move my appointment to Thursday?\nThanks!",
	"Grüße aus München — der Termin passt 👍",
	"ご予約ありがとうございます。明日お待ちしております。",
	"مرحبا، سيارتك جاهزة",
	"  leading and trailing spaces kept  ",
	`He said "fine", then left`,
	"Invoice #4411: brake pads, rotors; total $412.18",
}

// Route returns the department and customer UUIDs of route i.
func Route(seed uint64, i int) (dept, cust string) {
	d := uuid.NewSHA1(uuid.NameSpaceOID, fmt.Appendf(nil, "dept-%d-%d", seed, i%7))
	c := uuid.NewSHA1(uuid.NameSpaceOID, fmt.Appendf(nil, "cust-%d-%d", seed, i))
	return d.String(), c.String()
}

// WriteCSV writes a header and spec.Rows rows to w.
func WriteCSV(w io.Writer, spec Spec) error {
	_, err := Write(w, spec)
	return err
}

// PerRoute counts the rows of each route, to know the fewest requests a
// batch size allows.
type PerRoute []int

// MinRequests is Σ ceil(rows of a route / batch): no loader can do with
// fewer requests, since a request carries one route.
func (p PerRoute) MinRequests(batch int) int {
	n := 0
	for _, c := range p {
		n += (c + batch - 1) / batch
	}
	return n
}

// Write is WriteCSV that also returns how many rows each route got.
func Write(w io.Writer, spec Spec) (PerRoute, error) {
	bw := bufio.NewWriterSize(w, 1<<20)
	cw := csv.NewWriter(bw)
	if err := cw.Write(Header); err != nil {
		return nil, err
	}
	rng := rand.New(rand.NewPCG(spec.Seed, 1))
	routes := max(spec.Routes, 1)
	depts := make([]string, routes)
	custs := make([]string, routes)
	for i := range routes {
		depts[i], custs[i] = Route(spec.Seed, i)
	}
	base := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	user := uuid.NewSHA1(uuid.NameSpaceOID, []byte("user")).String()
	channels := []string{"email", "sms", "sms", "phone"}
	row := make([]string, len(Header))
	per := make(PerRoute, routes)
	for i := range spec.Rows {
		r := rng.IntN(routes)
		per[r]++
		at := base.Add(time.Duration(i) * 37 * time.Second)
		row[0] = fmt.Sprint(i + 1)
		row[1], row[2] = depts[r], custs[r]
		row[3] = channels[rng.IntN(len(channels))]
		row[4] = "inbound"
		if rng.IntN(2) == 0 {
			row[4] = "outbound"
		}
		row[5] = at.Format(time.RFC3339)
		row[6] = at.Add(-2 * time.Second).Format("2006-01-02 15:04:05")
		row[7] = fmt.Sprintf("Re: service order %d", 1000+r)
		row[8] = bodies[rng.IntN(len(bodies))]
		row[9] = ""
		if rng.IntN(10) == 0 {
			row[8], row[9] = "", "<p>Your <b>quote</b> is attached &amp; valid for 30 days.</p>"
		}
		row[10] = user
		row[11] = ""
		if err := cw.Write(row); err != nil {
			return nil, err
		}
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return nil, err
	}
	return per, bw.Flush()
}

// eachRow generates the rows Write writes and hands each to each, the header
// first (i = 0), for the writers of other formats. If each fails, the
// generator is stopped too.
func eachRow(spec Spec, each func(i int, rec []string) error) (PerRoute, error) {
	pr, pw := io.Pipe()
	type result struct {
		per PerRoute
		err error
	}
	done := make(chan result, 1)
	go func() {
		per, err := Write(pw, spec)
		pw.CloseWithError(err)
		done <- result{per, err}
	}()
	err := func() error {
		r := csv.NewReader(pr)
		r.ReuseRecord = true
		for i := 0; ; i++ {
			rec, err := r.Read()
			if err == io.EOF {
				return nil
			}
			if err != nil {
				return err
			}
			if err := each(i, rec); err != nil {
				return err
			}
		}
	}()
	pr.CloseWithError(err) // a generator still writing stops
	res := <-done
	if err != nil {
		return nil, err
	}
	return res.per, res.err
}
