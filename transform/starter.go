package transform

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/msgmigrate/msgmigrate/schema"
)

// Starter is what msgmigrate init knows of a source: its columns and a few
// records, to guess a mapping from.
type Starter struct {
	Name    string // the source system, for uuid5's namespace
	Source  string // the data file, for the header comment
	File    string // the mapping file being written
	Columns []string
	Samples []map[string]any
}

// StarterMapping writes a first mapping from a source's columns to a sink:
// a guess per target field from the column names (and the sample values:
// a date's layout, a direction's words), and a "# TODO" for each guess to
// check and each required value it could not guess. A required value that
// could not be guessed is written as TODO, which does not compile: lint
// fails until it is done. It returns the text and the number of TODOs.
func StarterMapping(sink *schema.Schema, st Starter) ([]byte, int) {
	g := &guesser{st: st, norm: map[string]string{}}
	for _, c := range st.Columns {
		g.norm[c] = normName(c)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "# A first mapping of %s to %s, written by msgmigrate init from the file's columns.\n", st.Source, sink.Sink)
	fmt.Fprintf(&b, "# Check every TODO, then: msgmigrate lint %s (the fields: msgmigrate schema %s).\n", st.File, sink.Sink)
	b.WriteString("# Every value is an expression over row; a literal text is quoted twice: '\"F\"'.\n")
	b.WriteString("version: 1\n")
	fmt.Fprintf(&b, "sink: %s\n", sink.Sink)

	var lines []line
	if sink.Sink == "mykaarma" {
		lines = g.mykaarma()
	} else {
		lines = g.generic(sink)
	}
	if w := g.where(); w.expr != "" {
		writeLine(&b, "", w)
	}
	if len(sink.Route) > 0 {
		b.WriteString("route:\n")
		for _, l := range lines {
			if name, ok := strings.CutPrefix(l.path, "route."); ok {
				l.path = name
				writeLine(&b, "  ", l)
			}
		}
	}
	b.WriteString("fields:\n")
	for _, l := range lines {
		if !strings.HasPrefix(l.path, "route.") {
			writeLine(&b, "  ", l)
		}
	}
	var unread []string
	for _, c := range st.Columns {
		if !g.used[c] {
			unread = append(unread, c)
		}
	}
	if len(unread) > 0 {
		fmt.Fprintf(&b, "# Columns no field reads: %s.\n", strings.Join(unread, ", "))
	}
	return []byte(b.String()), g.todos
}

// line is one key of the mapping: off lines are written commented out.
type line struct {
	path, expr, comment string
	todo, off           bool
}

func writeLine(b *strings.Builder, indent string, l line) {
	s := indent + l.path + ": " + yamlExpr(l.expr)
	if l.off {
		s = indent + "# " + l.path + ": " + yamlExpr(l.expr)
	}
	switch {
	case l.todo:
		s += "   # TODO: " + l.comment
	case l.comment != "":
		s += "   # " + l.comment
	}
	b.WriteString(s + "\n")
}

var plainExpr = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_.]*$`)

// yamlExpr writes an expression as a YAML value: plain when it is a name,
// else in single quotes (YAML would read ": " and " #" otherwise).
func yamlExpr(e string) string {
	if plainExpr.MatchString(e) {
		return e
	}
	return "'" + strings.ReplaceAll(e, "'", "''") + "'"
}

// RowRef writes a column reference as a mapping does: row.name, or
// row["a name"] when the name is not an identifier.
func RowRef(col string) string { return rowRef(col) }

type guesser struct {
	st    Starter
	norm  map[string]string // column → normalised name
	used  map[string]bool
	todos int
}

func normName(s string) string {
	return strings.NewReplacer("_", "", "-", "", " ", "", ".", "").Replace(strings.ToLower(s))
}

// find returns the first column named like one of names (normalised),
// trying exact names first, then columns that end with one (msg_body).
func (g *guesser) find(names ...string) string {
	for _, n := range names {
		for _, c := range g.st.Columns {
			if g.norm[c] == normName(n) {
				return g.use(c)
			}
		}
	}
	for _, n := range names {
		if len(n) < 4 {
			continue
		}
		for _, c := range g.st.Columns {
			if strings.HasSuffix(g.norm[c], normName(n)) {
				return g.use(c)
			}
		}
	}
	return ""
}

func (g *guesser) use(c string) string {
	if g.used == nil {
		g.used = map[string]bool{}
	}
	g.used[c] = true
	return c
}

// values returns a column's distinct non-empty sample values, as text.
func (g *guesser) values(col string) []string {
	var out []string
	for _, r := range g.st.Samples {
		v, ok := r[col]
		if !ok || v == nil {
			continue
		}
		s := strings.TrimSpace(toString(v))
		if s != "" && !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}

func (g *guesser) todo(l line) line {
	l.todo = true
	g.todos++
	return l
}

// required is a value the sink needs that nothing was guessed for.
func (g *guesser) required(path, what string) line {
	return g.todo(line{path: path, expr: "TODO", comment: what})
}

func (g *guesser) mykaarma() []line {
	var out []line
	add := func(l line) { out = append(out, l) }
	col := func(path, comment string, names ...string) {
		if c := g.find(names...); c != "" {
			add(line{path: path, expr: rowRef(c), comment: comment})
		}
	}
	if c := g.find("department_uuid", "department_id", "department", "dept_uuid", "dept_id", "dept", "store", "dealer", "location"); c != "" {
		add(line{path: "route.department", expr: rowRef(c)})
	} else {
		add(g.required("route.department", `the myKaarma department's UUID: a column, or lookup("departments", row.X) with a lookups: table`))
	}
	if c := g.find("customer_uuid", "customer_id", "customer", "contact_uuid", "contact_id", "client_id"); c != "" {
		add(line{path: "route.customer", expr: rowRef(c)})
	} else {
		add(g.required("route.customer", `the myKaarma customer's UUID: a column, or lookup("customers", lower(row.email)) with a lookups: table`))
	}
	if c := g.find("id", "message_id", "msg_id", "message_uuid", "uuid", "source_id", "external_id"); c != "" {
		add(line{path: "sourceUuid", expr: fmt.Sprintf("uuid5(%q, %s)", g.st.Name, rowRef(c)),
			comment: "the key: the same on every run; keep the namespace once loaded"})
	} else {
		add(g.required("sourceUuid", `a stable id per message: uuid5("`+g.st.Name+`", row.X)`))
	}
	sentCol := g.find("sent_at", "sent_on", "sent_date", "sent_datetime", "date_sent", "sent", "sent_time", "date", "datetime", "timestamp", "time", "when")
	if sentCol == "" {
		sentCol = g.dateByValue()
	}
	sent := g.times(sentCol, g.find("created_at", "created_on", "created", "created_datetime", "creation_date", "date_created"))
	if sent.expr != "" {
		sent.path = "sentOn"
		add(sent)
	}
	if rec := g.times(g.find("received_at", "received_on", "received", "received_datetime", "created_at", "created_on", "created", "created_datetime")); rec.expr != "" {
		rec.path = "receivedOn"
		add(rec)
	}
	if c := g.find("user_uuid", "user_id", "agent_uuid", "agent_id", "author_uuid", "author_id", "sender_uuid"); c != "" {
		add(g.todo(line{path: "userUuid", expr: rowRef(c), comment: "may make this user the thread's owner: keep it only where you want that"}))
	}
	text := g.find("body_text", "body", "text", "message", "message_text", "content", "body_plain", "plain", "msg")
	html := g.find("body_html", "html", "html_body", "content_html")
	switch {
	case text != "" && html != "":
		add(line{path: "messageAttributes.body", expr: fmt.Sprintf("%s ?? htmlToText(%s)", rowRef(text), rowRef(html))})
	case text != "":
		add(line{path: "messageAttributes.body", expr: rowRef(text)})
	case html != "":
		add(line{path: "messageAttributes.body", expr: fmt.Sprintf("htmlToText(%s)", rowRef(html))})
	}
	col("messageAttributes.subject", "", "subject", "title", "topic")
	if t := g.direction(); t.expr != "" {
		add(t)
	}
	if p := g.protocol(); p.expr != "" {
		add(p)
	}
	if a := g.attachments(); a.expr != "" {
		add(a)
	}
	if text == "" && html == "" && !slices.ContainsFunc(out, func(l line) bool { return l.path == "messageAttributes.attachments" }) {
		add(g.required("messageAttributes.body", "the message's text (a body or an attachment is required)"))
	}
	// History must not disturb live threads; the server's defaults are not
	// documented, so the mapping says what it wants.
	add(g.todo(line{path: "messageAttributes.updateThreadTimestamp", expr: "false", comment: "history should not move a live thread to the top: choose"}))
	add(g.todo(line{path: "messageAttributes.updateTotalMessageCount", expr: "false", comment: "choose: the server's default is not documented"}))
	add(g.todo(line{path: "messageAttributes.showInCustomerConversation", expr: "true", comment: "choose: the server's default is not documented"}))
	return out
}

// attachments maps a column of URLs, or of lists of objects with a URL.
func (g *guesser) attachments() line {
	c := g.find("attachment_url", "attachment", "attachments", "file_url", "media_url", "attachment_link", "files", "media", "url")
	if c == "" {
		return line{}
	}
	l := line{path: "messageAttributes.attachments"}
	for _, r := range g.st.Samples {
		list, ok := r[c].([]any)
		if !ok || len(list) == 0 {
			continue
		}
		if obj, ok := list[0].(map[string]any); ok {
			keys := make([]string, 0, len(obj))
			for k := range obj {
				keys = append(keys, k)
			}
			slices.Sort(keys)
			for _, k := range keys {
				if strings.Contains(normName(k), "url") && isIdent(k) {
					l.expr = fmt.Sprintf(`map(%s ?? [], {"fileURL": #.%s})`, rowRef(c), k)
					l.comment = "each attachment's URL: check (members seen: " + strings.Join(first(keys, 8), ", ") + ")"
					return g.todo(l)
				}
			}
		}
		l.expr = fmt.Sprintf(`map(%s ?? [], {"fileURL": #})`, rowRef(c))
		l.comment = "a list: say where each attachment's URL is"
		l.off = true
		return g.todo(l)
	}
	l.expr = fmt.Sprintf(`%s == nil ? nil : [{"fileURL": %s}]`, rowRef(c), rowRef(c))
	return l
}

// times reads the first column that has a value: time(row.a ?? row.b), or
// one time() each when the columns need a layout.
func (g *guesser) times(cols ...string) line {
	var exprs []string
	var plain []string
	var todo []string
	allPlain := true
	for _, c := range cols {
		if c == "" || slices.Contains(plain, rowRef(c)) {
			continue
		}
		layout, note := g.layout(c)
		if note != "" {
			todo = append(todo, note)
		}
		plain = append(plain, rowRef(c))
		if layout == "" {
			exprs = append(exprs, fmt.Sprintf("time(%s)", rowRef(c)))
		} else {
			allPlain = false
			exprs = append(exprs, fmt.Sprintf("time(%s, %q)", rowRef(c), layout))
		}
	}
	if len(exprs) == 0 {
		return line{}
	}
	l := line{expr: strings.Join(exprs, " ?? ")}
	if allPlain {
		l.expr = "time(" + strings.Join(plain, " ?? ") + ")"
	}
	if len(todo) > 0 {
		l.comment = strings.Join(todo, "; ")
		return g.todo(l)
	}
	return l
}

// dateByValue returns the first column not read yet whose samples are all
// times (and not all digits: an id reads as unix seconds), or "".
func (g *guesser) dateByValue() string {
	for _, c := range g.st.Columns {
		vals := g.values(c)
		if g.used[c] || len(vals) == 0 || !slices.ContainsFunc(vals, func(v string) bool { return !isDigits(v) }) {
			continue
		}
		if _, note := g.layout(c); note == "" || strings.Contains(note, "check the day and month order") {
			return g.use(c)
		}
	}
	return ""
}

// layouts are the strftime layouts init tries on sample dates that time()
// does not read as they are, day-first before month-first.
var layouts = []string{
	"%d/%m/%Y %H:%M:%S", "%d/%m/%Y %H:%M", "%d/%m/%Y",
	"%m/%d/%Y %H:%M:%S", "%m/%d/%Y %H:%M", "%m/%d/%Y", "%m/%d/%Y %I:%M %p",
	"%d.%m.%Y %H:%M:%S", "%d.%m.%Y %H:%M", "%d.%m.%Y",
	"%d-%m-%Y %H:%M:%S", "%d-%m-%Y %H:%M", "%d-%m-%Y",
	"%Y/%m/%d %H:%M:%S", "%Y/%m/%d %H:%M", "%Y/%m/%d",
	"%d %b %Y %H:%M", "%d %b %Y", "%d %B %Y",
}

// layout guesses the layout of a date column from its samples: "" when
// time() reads them as they are (or there are none), and a note when the
// guess needs checking.
func (g *guesser) layout(col string) (string, string) {
	vals := g.values(col)
	if len(vals) == 0 {
		return "", ""
	}
	plain := true
	for _, v := range vals {
		if _, err := ParseTime(v, time.UTC); err != nil {
			plain = false
			break
		}
	}
	if plain {
		return "", ""
	}
	var fit []string
	for _, l := range layouts {
		ok := true
		for _, v := range vals {
			if _, err := ParseTimeLayout(v, l, time.UTC); err != nil {
				ok = false
				break
			}
		}
		if ok {
			fit = append(fit, l)
		}
	}
	switch {
	case len(fit) == 0:
		return "", fmt.Sprintf("%s holds times like %q, which time() does not read: give a layout, e.g. time(%s, \"%%d/%%m/%%Y %%H:%%M\")", col, vals[0], rowRef(col))
	case len(fit) > 1:
		return fit[0], fmt.Sprintf("%s's samples (%q) fit %q and %q: check the day and month order", col, vals[0], fit[0], fit[1])
	}
	return fit[0], ""
}

// direction guesses messageAttributes.type: OUTGOING or INCOMING.
func (g *guesser) direction() line {
	c := g.find("direction", "dir", "from_agent", "is_outbound", "outbound", "from_me", "is_incoming", "incoming", "inbound", "sender_type")
	if c == "" {
		return line{}
	}
	vals := g.values(c)
	boolean := len(vals) > 0
	for _, v := range vals {
		if !slices.Contains([]string{"true", "false", "1", "0", "yes", "no"}, strings.ToLower(v)) {
			boolean = false
		}
	}
	seen := ""
	if len(vals) > 0 {
		seen = " (seen: " + strings.Join(first(vals, 6), ", ") + ")"
	}
	l := line{path: "messageAttributes.type"}
	if boolean {
		out, in := `"OUTGOING"`, `"INCOMING"`
		if n := g.norm[c]; strings.Contains(n, "incoming") || strings.Contains(n, "inbound") {
			out, in = in, out
		}
		l.expr = fmt.Sprintf(`lower(string(%s ?? "")) in ["true", "1", "yes"] ? %s : %s`, rowRef(c), out, in)
		l.comment = "check the direction" + seen
	} else {
		l.expr = fmt.Sprintf(`lower(%s ?? "") in ["outbound", "out", "outgoing", "sent"] ? "OUTGOING" : "INCOMING"`, rowRef(c))
		l.comment = "check the words for an outgoing message" + seen
	}
	return g.todo(l)
}

// protocol guesses messageAttributes.protocol from a channel column.
func (g *guesser) protocol() line {
	c := g.find("channel", "protocol", "medium", "channel_type", "message_type", "via", "source")
	if c == "" {
		return line{}
	}
	seen := ""
	if vals := g.values(c); len(vals) > 0 {
		seen = " (seen: " + strings.Join(first(vals, 8), ", ") + ")"
	}
	return g.todo(line{path: "messageAttributes.protocol",
		expr:    fmt.Sprintf(`enum(lower(%s ?? ""), {"email": "EMAIL", "e-mail": "EMAIL", "sms": "TEXT", "text": "TEXT", "mms": "TEXT", "phone": "VOICE_CALL", "call": "VOICE_CALL", "voice": "VOICE_CALL"}, "TEXT")`, rowRef(c)),
		comment: "check each channel's protocol" + seen})
}

// where suggests leaving out internal notes when a channel or type column
// shows some; otherwise a commented-out rule.
func (g *guesser) where() line {
	for _, c := range g.st.Columns {
		n := g.norm[c]
		if n != "channel" && n != "type" && n != "kind" && n != "messagetype" && n != "visibility" {
			continue
		}
		for _, v := range g.values(c) {
			if lv := strings.ToLower(v); strings.Contains(lv, "note") || strings.Contains(lv, "internal") {
				g.use(c)
				return g.todo(line{path: "where", expr: fmt.Sprintf("%s != %q", rowRef(c), v), comment: "internal notes are left out: check"})
			}
		}
	}
	return line{path: "where", expr: `row.channel != "internal-note"`, comment: "the records to leave out, if any", off: true}
}

// generic guesses for a sink init has no table for: a column named as
// the field.
func (g *guesser) generic(s *schema.Schema) []line {
	var out []line
	for _, r := range s.Route {
		if c := g.find(r); c != "" {
			out = append(out, line{path: "route." + r, expr: rowRef(c)})
		} else {
			out = append(out, g.required("route."+r, "the route parameter "+r))
		}
	}
	for _, f := range s.Fields {
		if f.Forbid != "" {
			continue
		}
		name := f.Path[strings.LastIndexByte(f.Path, '.')+1:]
		c := g.find(name)
		switch {
		case c != "" && f.Type == schema.Time:
			l := g.times(c)
			l.path = f.Path
			out = append(out, l)
		case c != "":
			out = append(out, line{path: f.Path, expr: rowRef(c)})
		case f.Required || f.Path == s.Key:
			out = append(out, g.required(f.Path, fmt.Sprintf("required (%s)", f.Type)))
		}
	}
	return out
}

func first(s []string, n int) []string {
	if len(s) > n {
		return append(slices.Clone(s[:n]), "…")
	}
	return s
}
