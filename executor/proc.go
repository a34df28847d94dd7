package executor

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// ProcStat is the part of /proc/<pid>/stat that tells one process from
// another that later got the same pid.
type ProcStat struct {
	// State is field 3: R, S, D, Z (zombie), X (dead), …
	State byte
	// PGRP is field 5, the process group id.
	PGRP int
	// StartTime is field 22, clock ticks after boot.
	StartTime uint64
}

// Exited is true for a process that has exited but is not yet reaped.
func (s ProcStat) Exited() bool { return s.State == 'Z' || s.State == 'X' || s.State == 'x' }

// Proc reads process facts; the default reads /proc.
type Proc interface {
	// Stat returns /proc/<pid>/stat; pid 0 means the calling process.
	Stat(pid int) (ProcStat, error)
	// BootID is /proc/sys/kernel/random/boot_id, which changes every boot.
	BootID() (string, error)
}

// procFS reads a proc file system mounted at Root.
type procFS struct{ Root string }

func (p procFS) Stat(pid int) (ProcStat, error) {
	name := "self"
	if pid != 0 {
		name = strconv.Itoa(pid)
	}
	b, err := os.ReadFile(filepath.Join(p.Root, name, "stat"))
	if err != nil {
		return ProcStat{}, err
	}
	return parseStat(b)
}

func (p procFS) BootID() (string, error) {
	b, err := os.ReadFile(filepath.Join(p.Root, "sys/kernel/random/boot_id"))
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(string(b)), nil
}

// parseStat parses the contents of /proc/<pid>/stat, for example
//
//	7886 (cat) R 7878 7878 6305 0 -1 4194304 99 0 0 0 0 0 0 0 20 0 1 0 32753 3133440 …
//
// The command name (field 2) may hold spaces and parentheses, so the fields
// after it are counted from the last ')'.
func parseStat(b []byte) (ProcStat, error) {
	end := bytes.LastIndexByte(b, ')')
	if end < 0 || end+2 > len(b) {
		return ProcStat{}, fmt.Errorf("parse /proc stat %q: no command name", b)
	}
	// rest[0] is field 3.
	rest := strings.Fields(string(b[end+1:]))
	const (
		stateField = 3
		pgrpField  = 5
		startField = 22
	)
	if len(rest) < startField-stateField+1 {
		return ProcStat{}, fmt.Errorf("parse /proc stat %q: %d fields after the command name", b, len(rest))
	}
	if len(rest[0]) != 1 {
		return ProcStat{}, fmt.Errorf("parse /proc stat %q: state %q", b, rest[0])
	}
	pgrp, err := strconv.Atoi(rest[pgrpField-stateField])
	if err != nil {
		return ProcStat{}, fmt.Errorf("parse /proc stat process group: %w", err)
	}
	start, err := strconv.ParseUint(rest[startField-stateField], 10, 64)
	if err != nil {
		return ProcStat{}, fmt.Errorf("parse /proc stat start time: %w", err)
	}
	return ProcStat{State: rest[0][0], PGRP: pgrp, StartTime: start}, nil
}
