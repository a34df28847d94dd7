package toolkit

import (
	"bytes"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// The helpers below read a failed step's output; every backend's Classify
// uses them with its package manager's own patterns and markers.

// outputTail is how much of the output a message falls back to.
const outputTail = 400

// OutputLines splits a step's output into lines (CRLF tolerated).
func OutputLines(output []byte) []string {
	return strings.Split(strings.ReplaceAll(string(output), "\r\n", "\n"), "\n")
}

// findLine returns the index of the first line re matches (-1 for none),
// preferring a line that starts with marker (the manager's error marker,
// such as "E: "; "" for none): a matching error line says more than a
// matching progress line.
func findLine(lines []string, marker string, re *regexp.Regexp) int {
	if re == nil {
		return -1
	}
	if marker != "" {
		for i, l := range lines {
			if strings.HasPrefix(l, marker) && re.MatchString(l) {
				return i
			}
		}
	}
	for i, l := range lines {
		if re.MatchString(l) {
			return i
		}
	}
	return -1
}

// TrimMarker trims space around line and the first of markers it starts
// with ("E: ", "error: ", ...).
func TrimMarker(line string, markers ...string) string {
	line = strings.TrimSpace(line)
	for _, m := range markers {
		if s, ok := strings.CutPrefix(line, m); ok {
			return strings.TrimSpace(s)
		}
	}
	return line
}

// LastLine is what pick makes of the last of lines (trimmed of space)
// that it accepts, such as the line without its marker, else "".
func LastLine(lines []string, pick func(line string) (string, bool)) string {
	for _, l := range slices.Backward(lines) {
		if m, ok := pick(strings.TrimSpace(l)); ok {
			return m
		}
	}
	return ""
}

// OutputSummary is the last message of a failure no pattern explains: the
// output's tail, else the exit code.
func OutputSummary(output []byte, exitCode int) string {
	if t := Tail(output, outputTail); t != "" {
		return t
	}
	return "exit code " + strconv.Itoa(exitCode)
}

// NextLine cuts the first line off data, without its newline and a
// carriage return before it: parsers walk an output with it without
// copying (for line, rest := NextLine(data); ...).
func NextLine(data []byte) (line, rest []byte) {
	line, rest, _ = bytes.Cut(data, []byte{'\n'})
	return bytes.TrimSuffix(line, []byte{'\r'}), rest
}

// Tail returns at most n bytes from the end of b, without surrounding space.
func Tail(b []byte, n int) string {
	b = bytes.TrimSpace(b)
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}
