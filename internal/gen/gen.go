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
	"strconv"
	"time"

	"github.com/google/uuid"
)

// Version names what the generator writes for a Spec: a file written by
// another version is a different file (callers that cache one compare it).
const Version = 2

// Header is the column set of generated CSV files; the built-in mapping
// csv-to-mykaarma reads these columns.
var Header = []string{"id", "department_uuid", "customer_uuid", "channel", "direction", "sent_at", "created_at", "subject", "body_text", "body_html", "user_uuid", "attachment_url"}

// Spec says what to generate.
type Spec struct {
	Rows   int
	Routes int    // distinct (department, customer) pairs, interleaved at random
	Seed   uint64 // same seed, same file
	// Short selects the single-line rows of ~245 bytes the earlier figures
	// were measured on. The default is realistic rows: ~330 bytes as CSV,
	// multi-line bodies (LF and CRLF), accents, CJK, Arabic and emoji,
	// quotes and commas inside fields, some HTML bodies, some attachments.
	Short bool
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
	cw := csv.NewWriter(bw) // keeps \r and \n inside quoted fields as they are
	per, err := eachRow(spec, func(_ int, rec []string) error { return cw.Write(rec) })
	if err != nil {
		return nil, err
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return nil, err
	}
	return per, bw.Flush()
}

// eachRow generates the rows and hands each to each, the header first
// (i = 0); rec is reused. Every format's writer goes through it, so the
// formats hold the same values, byte for byte.
func eachRow(spec Spec, each func(i int, rec []string) error) (PerRoute, error) {
	if err := each(0, Header); err != nil {
		return nil, err
	}
	g := newRows(spec)
	row := make([]string, len(Header))
	for i := range spec.Rows {
		if spec.Short {
			g.short(i, row)
		} else {
			g.realistic(i, row)
		}
		if err := each(i+1, row); err != nil {
			return nil, err
		}
	}
	return g.per, nil
}

// rows holds the generator's state: one random stream, so a seed fixes
// every byte.
type rows struct {
	rng          *rand.Rand
	depts, custs []string
	users        []string
	per          PerRoute
	base         time.Time
	buf          []byte
}

func newRows(spec Spec) *rows {
	routes := max(spec.Routes, 1)
	g := &rows{
		rng:   rand.New(rand.NewPCG(spec.Seed, 1)),
		depts: make([]string, routes),
		custs: make([]string, routes),
		per:   make(PerRoute, routes),
		base:  time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC),
	}
	for i := range routes {
		g.depts[i], g.custs[i] = Route(spec.Seed, i)
	}
	for i := range 24 {
		g.users = append(g.users, uuid.NewSHA1(uuid.NameSpaceOID, fmt.Appendf(nil, "user-%d-%d", spec.Seed, i)).String())
	}
	return g
}

func (g *rows) pick(s []string) string { return s[g.rng.IntN(len(s))] }

// route draws the row's route uniformly: every route's rows are spread over
// the whole file, as in an export sorted by time.
func (g *rows) route(row []string) int {
	r := g.rng.IntN(len(g.depts))
	g.per[r]++
	row[1], row[2] = g.depts[r], g.custs[r]
	return r
}

var shortBodies = []string{
	"Hi, your vehicle is ready for pickup at 5pm.",
	"Can we move my appointment to Thursday?\nThanks!",
	"Grüße aus München — der Termin passt 👍",
	"ご予約ありがとうございます。明日お待ちしております。",
	"مرحبا، سيارتك جاهزة",
	"  leading and trailing spaces kept  ",
	`He said "fine", then left`,
	"Invoice #4411: brake pads, rotors; total $412.18",
}

var shortUser = uuid.NewSHA1(uuid.NameSpaceOID, []byte("user")).String()

// short fills the rows of generator version 1, kept for comparison with
// figures measured on them.
func (g *rows) short(i int, row []string) {
	r := g.route(row)
	at := g.base.Add(time.Duration(i) * 37 * time.Second)
	row[0] = strconv.Itoa(i + 1)
	row[3] = shortChannels[g.rng.IntN(len(shortChannels))]
	row[4] = "inbound"
	if g.rng.IntN(2) == 0 {
		row[4] = "outbound"
	}
	row[5] = at.Format(time.RFC3339)
	row[6] = at.Add(-2 * time.Second).Format("2006-01-02 15:04:05")
	row[7] = fmt.Sprintf("Re: service order %d", 1000+r)
	row[8] = g.pick(shortBodies)
	row[9] = ""
	if g.rng.IntN(10) == 0 {
		row[8], row[9] = "", "<p>Your <b>quote</b> is attached &amp; valid for 30 days.</p>"
	}
	row[10] = shortUser
	row[11] = ""
}

var shortChannels = []string{"email", "sms", "sms", "phone"}

// The realistic rows' text: what dealership conversations hold — several
// languages and scripts, typographic punctuation, quotes, commas, prices.
var (
	greetings = []string{
		"Hi Anna,", "Hello,", "Good morning Mr. Okafor,", "Dear customer,", "Hallo Frau Weiß,",
		"Bonjour Mme Lefèvre,", "Hola José,", "こんにちは、佐藤様", "您好，", "مرحباً أستاذ خالد،", "Hey 👋",
	}
	sentences = []string{
		"Your vehicle is ready for pickup at 5pm.",
		"Can we move my appointment to Thursday?",
		"The estimate for brake pads, rotors and labour is $412.18, taxes included.",
		`He said "fine, leave it", then left the keys at the desk.`,
		"Please confirm by replying YES, or call us at +1 (555) 010-2233.",
		"We found a nail in the rear left tyre; a patch is $25, a new tyre $180.",
		"Die Inspektion ist abgeschlossen — Ihr Fahrzeug steht bereit.",
		"Könnten Sie mir bitte den Kostenvoranschlag schicken? Danke!",
		"La voiture est prête. Merci de votre confiance !",
		"Pouvez-vous décaler le rendez-vous à jeudi, 14 h ?",
		"¿Podemos cambiar la cita al jueves? Gracias.",
		"ご予約ありがとうございます。明日お待ちしております。",
		"車検の見積もりをお送りします。ご確認ください。",
		"您的车辆已经保养完毕，可以随时来取。",
		"مرحبا، سيارتك جاهزة للاستلام.",
		"شكراً لزيارتكم، نتطلع لخدمتكم مرة أخرى.",
		"Thanks!! 🚗💨",
		"See you soon 😊",
		"Invoice #4411: oil change, filter; total €89,90 (MwSt. inkl.).",
		`The part is on back-order; "2–3 business days", they say.`,
		"  I'll be there at 9, maybe a bit later  ",
	}
	signoffs = []string{
		"— Jens", "Best regards,\nService team", "Mit freundlichen Grüßen\nAutohaus Weber", "Cordialement,\nL'atelier",
		"Thanks,\nMaría", "よろしくお願いいたします。", "谢谢！", "مع التحية", "Cheers 🙂",
	}
	emailSubjects = []string{
		"Re: Service order %d", "Your estimate #%d", "Appointment confirmation — ticket %d", "Rückfrage zu Auftrag %d",
		"Re: Re: brake inspection, order %d", "Devis n° %d", "ご予約の確認 (%d)", "Invoice %d, \"final\"",
	}
	callNotes = []string{
		"Call summary: customer asked about the recall, booked for Monday.",
		"Left voicemail re: tyre quote.",
		"Kunde ruft zurück, wegen Ersatzwagen.",
		"Customer confirmed pickup; paid by card.",
	}
	htmlBodies = []string{
		"<p>Dear customer,</p><p>Your <b>quote</b> is attached &amp; valid for 30 days.</p><p>Regards,<br>Service</p>",
		"<div>Hello,<br><br>Thanks for visiting <i>Autohaus Weber</i> — we'd love your feedback: <a href=\"https://dealer.example/survey?id=1\">survey</a></div>",
		"<p>Bonjour,</p><ul><li>Vidange</li><li>Filtre à huile</li></ul><p>Total : 89,90&nbsp;€</p>",
		"<html><body><p>ご来店ありがとうございました。</p><p>次回点検：<b>6月</b></p></body></html>",
	}
	files = []string{"invoice.pdf", "estimate.pdf", "photo_damage.jpg", "Kostenvoranschlag.pdf", "inspection report.pdf"}
	// Offsets a dealership's export writes times in.
	zones = []*time.Location{time.UTC, time.UTC, time.FixedZone("", 3600), time.FixedZone("", -5*3600), time.FixedZone("", 9*3600)}
)

// realistic fills a realistic row.
func (g *rows) realistic(i int, row []string) {
	r := g.route(row)
	at := g.base.Add(time.Duration(i)*37*time.Second + time.Duration(g.rng.IntN(37000))*time.Millisecond)
	row[0] = strconv.Itoa(i + 1)
	row[4] = "inbound"
	row[10] = ""
	if g.rng.IntN(2) == 0 {
		row[4] = "outbound"
		row[10] = g.pick(g.users)
	}
	row[5] = at.In(zones[g.rng.IntN(len(zones))]).Format(time.RFC3339)
	row[6] = at.Add(-2 * time.Second).Format("2006-01-02 15:04:05")
	row[7], row[8], row[9], row[11] = "", "", "", ""
	nl := "\n"
	if g.rng.IntN(3) == 0 {
		nl = "\r\n" // exports from Windows tools
	}
	switch c := g.rng.IntN(20); {
	case c < 9: // email
		row[3] = "email"
		row[7] = fmt.Sprintf(g.pick(emailSubjects), 1000+r)
		if g.rng.IntN(6) == 0 {
			row[9] = g.pick(htmlBodies)
		} else {
			row[8] = g.text(nl, 2+g.rng.IntN(4), true)
		}
		if g.rng.IntN(8) == 0 {
			row[11] = fmt.Sprintf("https://files.dealer.example/att/%d/%s", 1000+r, g.pick(files))
		}
	case c < 18: // sms: short, no subject
		row[3] = "sms"
		row[8] = g.text(nl, 1+g.rng.IntN(3), false)
		if g.rng.IntN(25) == 0 {
			row[11] = fmt.Sprintf("https://mms.dealer.example/%d/%s", 1000+r, g.pick(files))
		}
	default: // phone
		row[3] = "phone"
		row[8] = g.pick(callNotes)
	}
}

// text joins n sentences; an email gets a greeting and a sign-off on lines
// of their own.
func (g *rows) text(nl string, n int, email bool) string {
	b := g.buf[:0]
	if email {
		b = append(b, g.pick(greetings)...)
		b = append(b, nl...)
	}
	for k := range n {
		if k > 0 {
			if g.rng.IntN(3) == 0 {
				b = append(b, nl...)
			} else {
				b = append(b, ' ')
			}
		}
		b = append(b, g.pick(sentences)...)
	}
	if email {
		b = append(b, nl...)
		b = append(b, nl...)
		for _, c := range g.pick(signoffs) {
			if c == '\n' {
				b = append(b, nl...)
			} else {
				b = append(b, string(c)...)
			}
		}
	}
	g.buf = b
	return string(b)
}
