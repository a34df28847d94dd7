package audit

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// VerifyError says where the chain breaks.
type VerifyError struct {
	// File is the name of the file inside the directory; Line counts from
	// 1 (0 when the problem is the file as a whole); Seq is the sequence
	// number of the record at fault, or the one expected there.
	File string
	Line int
	Seq  uint64
	// Reason says what is wrong.
	Reason string
}

func (e *VerifyError) Error() string {
	switch {
	case e.Line > 0:
		return fmt.Sprintf("%s line %d (record %d): %s", e.File, e.Line, e.Seq, e.Reason)
	case e.File != "":
		return fmt.Sprintf("%s (record %d): %s", e.File, e.Seq, e.Reason)
	default:
		return e.Reason
	}
}

// Summary describes a log that verified.
type Summary struct {
	// Files and Records counted; First and Last sequence numbers.
	Files, Records int
	First, Last    uint64
}

// Verify checks the audit log in dir: every record's own hash, the sequence
// without gaps, every prev link (across files), rotated file names, and
// that the log starts at the head's oldest retained record and ends at the
// head's newest. It returns a *VerifyError naming the first place where the
// chain breaks.
func Verify(dir string) error {
	_, err := VerifyDir(dir)
	return err
}

// VerifyDir is Verify that also summarises a log that verified.
func VerifyDir(dir string) (Summary, error) {
	var sum Summary
	names, err := files(dir)
	if err != nil {
		return sum, fmt.Errorf("reading the audit directory: %w", err)
	}
	hb, err := os.ReadFile(filepath.Join(dir, HeadFile))
	if errors.Is(err, os.ErrNotExist) {
		if len(names) == 0 {
			return sum, nil
		}
		return sum, &VerifyError{File: HeadFile, Reason: "the head file is missing"}
	}
	if err != nil {
		return sum, fmt.Errorf("reading %s: %w", HeadFile, err)
	}
	h, err := parseHead(hb)
	if err != nil {
		return sum, &VerifyError{File: HeadFile, Reason: err.Error()}
	}
	var (
		want     = h.oldest
		prevHash string
		lastFile = HeadFile
		lastLine int
	)
	for _, name := range names {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			return sum, fmt.Errorf("reading %s: %w", name, err)
		}
		if len(b) == 0 {
			if name == CurrentFile {
				continue
			}
			return sum, &VerifyError{File: name, Seq: want, Reason: "the file is empty (truncated)"}
		}
		if b[len(b)-1] != '\n' {
			n := bytes.Count(b, []byte{'\n'}) + 1
			return sum, &VerifyError{File: name, Line: n, Seq: want + uint64(n) - 1, Reason: "the last record is cut short (truncated)"}
		}
		lines := bytes.Split(b[:len(b)-1], []byte{'\n'})
		if first, ok := rotatedSeq(name); ok {
			if first > want {
				return sum, &VerifyError{File: name, Seq: want, Reason: fmt.Sprintf(
					"the file should start at record %d but its name says %d: records %d to %d are missing (a file was deleted or cut short)", want, first, want, first-1)}
			}
			if first < want {
				return sum, &VerifyError{File: name, Seq: first, Reason: fmt.Sprintf(
					"the file's name says it starts at record %d, before record %d where it should", first, want)}
			}
		}
		for i, line := range lines {
			e, err := decode(line)
			if err != nil {
				return sum, &VerifyError{File: name, Line: i + 1, Seq: want, Reason: err.Error()}
			}
			switch {
			case e.Seq != want && sum.Records == 0 && e.Seq > want:
				return sum, &VerifyError{File: name, Line: i + 1, Seq: e.Seq, Reason: fmt.Sprintf(
					"the log starts at record %d but %s says records are kept from %d: records %d to %d were removed", e.Seq, HeadFile, want, want, e.Seq-1)}
			case e.Seq > want:
				return sum, &VerifyError{File: name, Line: i + 1, Seq: e.Seq, Reason: fmt.Sprintf(
					"records %d to %d are missing (deleted)", want, e.Seq-1)}
			case e.Seq != want:
				return sum, &VerifyError{File: name, Line: i + 1, Seq: e.Seq, Reason: fmt.Sprintf(
					"record %d is out of order: expected record %d", e.Seq, want)}
			}
			switch {
			case sum.Records == 0 && e.Seq == 1 && e.Prev != "":
				return sum, &VerifyError{File: name, Line: i + 1, Seq: e.Seq, Reason: "the first record links to a previous one"}
			case sum.Records > 0 && e.Prev != prevHash:
				return sum, &VerifyError{File: name, Line: i + 1, Seq: e.Seq, Reason: fmt.Sprintf(
					"the link to the previous record (%s line %d) does not match: it was changed or replaced", lastFile, lastLine)}
			}
			if sum.Records == 0 {
				sum.First = e.Seq
			}
			sum.Records++
			sum.Last = e.Seq
			prevHash = lineHash(line)
			lastFile, lastLine = name, i+1
			want++
		}
		sum.Files++
	}
	switch {
	case sum.Records == 0 && h.seq != 0:
		return sum, &VerifyError{File: HeadFile, Seq: h.seq, Reason: fmt.Sprintf(
			"the head names record %d but there are no records (deleted)", h.seq)}
	case h.seq > sum.Last:
		return sum, &VerifyError{File: lastFile, Line: lastLine, Seq: sum.Last, Reason: fmt.Sprintf(
			"the log ends at record %d but %s names record %d: records %d to %d were cut off (truncated)", sum.Last, HeadFile, h.seq, sum.Last+1, h.seq)}
	case h.seq < sum.Last:
		return sum, &VerifyError{File: lastFile, Line: lastLine, Seq: sum.Last, Reason: fmt.Sprintf(
			"the log goes on past record %d, the newest %s names", h.seq, HeadFile)}
	case h.seq != 0 && h.hash != prevHash:
		return sum, &VerifyError{File: lastFile, Line: lastLine, Seq: sum.Last, Reason: fmt.Sprintf(
			"the newest record does not match %s: it was changed or replaced", HeadFile)}
	}
	return sum, nil
}
