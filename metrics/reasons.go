package metrics

import (
	"strings"
	"sync"
	"unicode/utf8"
)

// maxReasons bounds the reasons that are not the pipeline's own: a vendor's
// error code is free text, and every distinct value is a series for as long
// as the Prometheus server keeps it.
const maxReasons = 20

// maxReasonBytes cuts a reason that is a sentence rather than a code.
const maxReasonBytes = 64

// ownReasons are the reasons the pipeline and the load package mint
// themselves: few, and always counted as themselves. (The codes are load's
// on main; one added there and missing here only takes one of the 20 places.)
var ownReasons = map[string]bool{
	"": true, Other: true,
	"rule": true, "already_loaded": true, "duplicate": true, "changed": true, // skipped
	"read": true, "map": true, "load": true, "interrupted": true,
	"RETRIES_EXHAUSTED": true, "DUPLICATE_KEY": true, "UNKNOWN_OUTCOME": true, "NOT_FOUND": true,
	"TOO_LARGE": true, "BAD_REQUEST": true, "BAD_ROUTE": true, "BAD_ANSWER": true,
	"UNREADABLE_ANSWER": true, "ANSWER_TOO_LARGE": true, "BATCH": true, "PAYLOAD": true,
	"PARTIAL": true, "WRITE": true,
}

// reasonSet admits the first maxReasons reasons it sees besides its own.
type reasonSet struct {
	mu   sync.RWMutex
	seen map[string]struct{}
}

func (s *reasonSet) bound(reason string) string {
	reason = cleanReason(reason)
	if ownReasons[reason] {
		return reason
	}
	s.mu.RLock()
	_, ok := s.seen[reason]
	s.mu.RUnlock()
	if ok {
		return reason
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.seen[reason]; ok {
		return reason
	}
	if len(s.seen) >= maxReasons {
		return Other
	}
	s.seen[reason] = struct{}{}
	return reason
}

// cleanReason makes a label value of a reason: valid UTF-8 (the client
// panics on anything else), no surrounding space, at most maxReasonBytes.
func cleanReason(s string) string {
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "\uFFFD")
	}
	s = strings.TrimSpace(s)
	if len(s) <= maxReasonBytes {
		return s
	}
	cut := maxReasonBytes
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut]
}
