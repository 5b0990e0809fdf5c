package mcp

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Budgets for what one tool result may carry: an agent's context is the
// scarce resource, so long outputs are cut with a marker that says how
// to get the rest.
const (
	maxLineBytes = 2000      // one line of a file, patch or match
	maxTextBytes = 256 << 10 // the readable text of one result
)

// query is a REST query string in the making: pairs of key and value,
// empty values left out (the API treats an absent parameter as "use
// the default").
type query []string

func (q query) values() url.Values {
	v := url.Values{}
	for i := 0; i+1 < len(q); i += 2 {
		if q[i+1] != "" {
			v.Add(q[i], q[i+1])
		}
	}
	return v
}

func itoa(n int) string {
	if n == 0 {
		return ""
	}
	return strconv.Itoa(n)
}

// clamp returns n within [1, max], def when n ≤ 0.
func clamp(n, def, max int) int {
	switch {
	case n <= 0:
		return def
	case n > max:
		return max
	}
	return n
}

// clip cuts s to n bytes on a rune boundary, saying how much was cut.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + fmt.Sprintf("… [line truncated: %d more bytes]", len(s)-cut)
}

// moreMarker ends a page of a cursor-paginated listing.
func moreMarker(cursor string) string {
	return fmt.Sprintf("… [more: call again with cursor=%s]", cursor)
}

// truncatedMarker ends a window of lines.
func truncatedMarker(more, next int) string {
	return fmt.Sprintf("… [truncated: %d more lines; call again with start_line=%d]", more, next)
}

// lineWindow picks lines [start, start+max) (1-based) from lines, within
// the text budget, each line clipped; it returns the text, the last line
// shown and whether lines follow.
func lineWindow(lines []string, start, max int) (string, int, bool) {
	if start < 1 {
		start = 1
	}
	var b strings.Builder
	end := start - 1
	for i := start - 1; i < len(lines) && i < start-1+max; i++ {
		l := clip(lines[i], maxLineBytes)
		if b.Len()+len(l)+1 > maxTextBytes && end >= start {
			break
		}
		b.WriteString(l)
		b.WriteByte('\n')
		end = i + 1
	}
	return b.String(), end, end < len(lines)
}

// splitLines splits text into lines without the terminators; a final
// newline does not start another line.
func splitLines(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(strings.TrimSuffix(s, "\n"), "\n")
}

// listText renders one page of a listing: a line per item (line writes
// it), none when the page is empty, and the marker when a page follows.
func listText[T any](items []T, none string, hasMore bool, cursor string, line func(b *strings.Builder, item T)) string {
	var b strings.Builder
	if len(items) == 0 {
		b.WriteString(none)
	}
	for _, it := range items {
		line(&b, it)
	}
	if hasMore && cursor != "" {
		b.WriteString(moreMarker(cursor))
	}
	return b.String()
}
