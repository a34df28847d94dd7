// Package audit owns patchlet's tamper-evident audit log: every change
// accepted over the API (who, what, the generation before and after, from
// where) and every package-manager step run (argv, exit code), appended as
// JSON lines to <state>/audit/audit.log and fsynced per record.
//
// The records form a hash chain. Each line carries its sequence number, the
// SHA-256 of the previous record's line ("prev") and the SHA-256 of its own
// content ("hash", the line without its trailing ,"hash":"…" member). An
// edited byte breaks the record's own hash; a deleted or reordered line breaks
// the sequence and the prev link of the record after it. A small fixed-width
// file, audit.head, holds the sequence and line hash of the newest record and
// the first sequence still retained, so that cutting records off the end of
// the log, or deleting the oldest file, is detected too.
//
// Rotation by size renames audit.log to audit-<first seq, 20 digits>.log and
// starts a new audit.log whose first record links to the last record of the
// renamed file, so the chain runs across files; only the newest Keep rotated
// files are kept. Verify walks every file and says where the chain breaks.
//
// The chain detects accidental damage and tampering by anyone who cannot
// rewrite the whole log consistently; root on the host can. Ship the log
// elsewhere (journald, a log collector) when that matters.
package audit

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"
)

// Entry is one record of the audit log. Record fills Seq, Time, Prev and
// Hash; the caller sets Change or Step.
type Entry struct {
	// Seq numbers the records from 1, without gaps, across files.
	Seq uint64 `json:"seq"`
	// Time the record was written.
	Time time.Time `json:"time"`
	// Prev is the hex SHA-256 of the previous record's line (no newline);
	// empty for the first record ever written.
	Prev string `json:"prev"`
	// Change is a write accepted over the API.
	Change *Change `json:"change,omitempty"`
	// Step is a package-manager step the agent ran.
	Step *Step `json:"step,omitempty"`
	// Hash is the hex SHA-256 of the line without its hash member; set by
	// Record, checked by Verify.
	Hash string `json:"hash,omitempty"`
}

// Change is a write to an object accepted over the API.
type Change struct {
	// User is who made it: the common name of the client certificate,
	// "uid=N" for a peer on the unix socket, "insecure-loopback" for the
	// plain-HTTP listener, "" when anonymous.
	User string `json:"user"`
	// Groups are the organizations of the client certificate.
	Groups []string `json:"groups,omitempty"`
	// From is the remote address ("@" for the unix socket).
	From string `json:"from"`
	// Verb is create, update, patch or delete.
	Verb string `json:"verb"`
	// Resource is the plural resource, with "/status" for the subresource.
	Resource string `json:"resource"`
	Name     string `json:"name"`
	// UID of the object.
	UID string `json:"uid,omitempty"`
	// GenerationBefore is 0 for a create; GenerationAfter is 0 for a delete.
	GenerationBefore int64 `json:"generationBefore"`
	GenerationAfter  int64 `json:"generationAfter"`
	// ResourceVersion of the object after the change (before, for a delete).
	ResourceVersion string `json:"resourceVersion,omitempty"`
}

// Step is a package-manager command the agent ran.
type Step struct {
	// Operation is the name of the Operation object of the step.
	Operation string `json:"operation,omitempty"`
	// Policy is the PatchPolicy the step serves.
	Policy string `json:"policy,omitempty"`
	// Argv is the command line.
	Argv []string `json:"argv"`
	// ExitCode of the command; -1 when it did not exit (killed, not started).
	ExitCode int `json:"exitCode"`
	// Error says why the step failed to run, if it did.
	Error string `json:"error,omitempty"`
	// Duration of the step.
	Duration time.Duration `json:"durationNanos,omitempty"`
}

// Recorder takes audit entries; *Log is one.
type Recorder interface {
	Record(ctx context.Context, e Entry) error
}

// hashMember is how the hash member of a line starts; the line ends with
// hashMember, 64 hex digits, `"}`.
const hashMember = `,"hash":"`

// hashSuffixLen is the length of the hash member and the closing brace.
const hashSuffixLen = len(hashMember) + 64 + 2

// encode returns the line of e (no newline) with its own hash filled in.
func encode(e Entry) ([]byte, error) {
	e.Hash = ""
	body, err := json.Marshal(e)
	if err != nil {
		return nil, fmt.Errorf("encoding audit record %d: %w", e.Seq, err)
	}
	sum := sha256.Sum256(body)
	line := make([]byte, 0, len(body)+hashSuffixLen)
	line = append(line, body[:len(body)-1]...)
	line = append(line, hashMember...)
	line = hex.AppendEncode(line, sum[:])
	line = append(line, `"}`...)
	return line, nil
}

// lineHash is the hex SHA-256 of a line (no newline): the next record's Prev.
func lineHash(line []byte) string {
	sum := sha256.Sum256(line)
	return hex.EncodeToString(sum[:])
}

// decode parses a line and checks its own hash.
func decode(line []byte) (Entry, error) {
	var e Entry
	n := len(line)
	if n < hashSuffixLen+2 || string(line[n-hashSuffixLen:n-hashSuffixLen+len(hashMember)]) != hashMember || string(line[n-2:]) != `"}` {
		return e, fmt.Errorf("the record does not end with its hash")
	}
	if err := json.Unmarshal(line, &e); err != nil {
		return e, fmt.Errorf("the record is not valid JSON: %w", err)
	}
	body := make([]byte, 0, n-hashSuffixLen+1)
	body = append(body, line[:n-hashSuffixLen]...)
	body = append(body, '}')
	sum := sha256.Sum256(body)
	if got := hex.EncodeToString(sum[:]); got != string(line[n-hashSuffixLen+len(hashMember):n-2]) || e.Hash != got {
		return e, fmt.Errorf("the record was changed: its content does not match its hash")
	}
	return e, nil
}
