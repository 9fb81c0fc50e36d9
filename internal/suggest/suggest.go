// Package suggest finds the word a user probably meant: the did-you-mean of
// every "unknown …" message (a sink field, a source column, a kind).
package suggest

import "strings"

// Closest returns the candidate nearest to word when it is near enough —
// within a third of the word's length plus two edits, compared without
// case — or "".
func Closest(word string, candidates []string) string {
	w := strings.ToLower(word)
	best, bestD := "", len([]rune(w))/3+2
	for _, c := range candidates {
		if d := Distance(w, strings.ToLower(c)); d < bestD {
			best, bestD = c, d
		}
	}
	return best
}

// Distance is the Levenshtein distance between a and b, in runes.
func Distance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(rb)]
}
