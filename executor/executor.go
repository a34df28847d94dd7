package executor

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	osexec "os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/go-logr/logr"

	"github.com/patchlet/patchlet/backends"
	"github.com/patchlet/patchlet/internal/fsutil"
)

// Errors returned by the Executor; test with errors.Is.
var (
	// ErrExists: Start was called for an id that already has a step
	// directory. The step is not run again; Status tells how it went.
	ErrExists = errors.New("step already exists")
	// ErrNotFound: there is no step with that id.
	ErrNotFound = errors.New("step not found")
)

// Defaults for Options.
const (
	DefaultStartGrace = 30 * time.Second
	DefaultKillGrace  = 10 * time.Second
)

// Clock tells the time.
type Clock interface{ Now() time.Time }

type realClock struct{}

func (realClock) Now() time.Time { return time.Now() }

// Options configure an Executor.
type Options struct {
	// Dir holds one directory per step, e.g. <state-dir>/steps.
	Dir string
	// Mode is auto (default), detached or systemd.
	Mode Mode
	// Self is the command that runs a step directory, without the
	// directory: cmd/patchlet passes [os.Executable(), "run-step"], whose
	// handler calls RunnerMain. Self[0] must be an absolute path.
	Self []string
	Log  logr.Logger
	// Clock defaults to the system clock.
	Clock Clock
	// Proc defaults to /proc.
	Proc Proc
	// StartGrace is how long a step may wait for its runner to claim it
	// before it counts as Lost (default DefaultStartGrace).
	StartGrace time.Duration
	// KillGrace is how long a step that timed out or was interrupted gets
	// between SIGTERM and SIGKILL (default DefaultKillGrace).
	KillGrace time.Duration
	// SystemdRun is the path of systemd-run (default: looked up in PATH).
	SystemdRun string
}

// Executor starts steps detached and reports on them. Several Executors
// (in one or several processes, one after another or at once) may share a
// Dir; a step still runs at most once.
type Executor struct {
	dir        string
	mode       Mode
	self       []string
	log        logr.Logger
	clock      Clock
	proc       Proc
	startGrace time.Duration
	killGrace  time.Duration
	systemdRun string

	// mu guards changed, which is closed (and replaced) whenever a runner
	// this Executor started exits, to wake Wait early.
	mu      sync.Mutex
	changed chan struct{}
}

// New checks opts, resolves the mode and creates Dir.
func New(opts Options) (*Executor, error) {
	if opts.Dir == "" {
		return nil, errors.New("executor: no step directory")
	}
	if len(opts.Self) == 0 || !filepath.IsAbs(opts.Self[0]) {
		return nil, fmt.Errorf("executor: runner command %q must start with an absolute path", opts.Self)
	}
	e := &Executor{
		dir:        opts.Dir,
		self:       slices.Clone(opts.Self),
		log:        opts.Log,
		clock:      opts.Clock,
		proc:       opts.Proc,
		startGrace: opts.StartGrace,
		killGrace:  opts.KillGrace,
		systemdRun: opts.SystemdRun,
		changed:    make(chan struct{}),
	}
	if e.clock == nil {
		e.clock = realClock{}
	}
	if e.proc == nil {
		e.proc = procFS{Root: "/proc"}
	}
	if e.startGrace <= 0 {
		e.startGrace = DefaultStartGrace
	}
	if e.killGrace <= 0 {
		e.killGrace = DefaultKillGrace
	}
	if e.systemdRun == "" {
		if p, err := osexec.LookPath("systemd-run"); err == nil {
			e.systemdRun = p
		}
	}
	pid1, _ := os.ReadFile("/proc/1/comm")
	mode, err := resolveMode(opts.Mode, string(pid1), e.systemdRun)
	if err != nil {
		return nil, err
	}
	e.mode = mode
	if err := os.MkdirAll(e.dir, 0o700); err != nil {
		return nil, fmt.Errorf("create step directory: %w", err)
	}
	return e, nil
}

// Mode is the mode in use (never auto).
func (e *Executor) Mode() Mode { return e.mode }

// validID accepts ids that are safe as a file name and in a unit name.
func validID(id string) error {
	if id == "" || len(id) > 128 {
		return fmt.Errorf("step id %q: want 1 to 128 characters", id)
	}
	for i, c := range id {
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
			i > 0 && (c == '-' || c == '_' || c == '.')
		if !ok {
			return fmt.Errorf("step id %q: want letters, digits, '-', '_' and '.', starting with a letter or digit", id)
		}
	}
	return nil
}

func (e *Executor) stepDir(id string) string { return filepath.Join(e.dir, id) }

// LogPath is the file holding the step's output.
func (e *Executor) LogPath(id string) string { return filepath.Join(e.dir, id, logFile) }

// Start records the step under Dir/<id> and launches its runner, which
// outlives this process. Start never runs a step twice: if id already has
// a step directory it returns an error satisfying errors.Is(err,
// ErrExists) and launches nothing. If launching fails, the step is marked
// so that Status reports it Lost at once and no runner will ever run it.
func (e *Executor) Start(ctx context.Context, id string, step backends.Step) error {
	if err := validID(id); err != nil {
		return err
	}
	if len(step.Argv) == 0 || !filepath.IsAbs(step.Argv[0]) {
		return fmt.Errorf("step %s: argv %q must start with an absolute path", id, step.Argv)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("step %s: %w", id, err)
	}
	boot, err := e.proc.BootID()
	if err != nil {
		return fmt.Errorf("step %s: read boot id: %w", id, err)
	}
	rec := stepRecord{
		BootID:           boot,
		ID:               id,
		Type:             string(step.Type),
		Argv:             slices.Clone(step.Argv),
		Env:              slices.Clone(step.Env),
		Packages:         slices.Clone(step.Packages),
		SuccessExitCodes: slices.Clone(step.SuccessExitCodes),
		Timeout:          formatDuration(step.Timeout),
		KillGrace:        formatDuration(e.killGrace),
		Mode:             e.mode,
		CreatedAt:        e.clock.Now().UTC(),
	}
	if rec.Env == nil {
		rec.Env = []string{}
	}
	if e.mode == ModeSystemd {
		rec.Unit = unitName(id)
	}
	if err := e.create(id, rec); err != nil {
		return err
	}
	dir := e.stepDir(id)
	log := e.log.WithValues("step", id, "mode", e.mode)
	log.Info("starting step", "type", step.Type, "argv", step.Argv, "timeout", step.Timeout)
	if e.mode == ModeSystemd {
		err = e.launchSystemd(ctx, id, dir)
	} else {
		err = e.launchDetached(log, dir)
	}
	if err != nil {
		log.Error(err, "step runner did not start")
		abandon := runnerRecord{Abandoned: true, Message: err.Error()}
		if cerr := claimJSON(dir, runnerFile, abandon); cerr != nil && !errors.Is(cerr, fs.ErrExist) {
			log.Error(cerr, "cannot mark step abandoned")
		}
		return fmt.Errorf("step %s: %w", id, err)
	}
	return nil
}

// create makes Dir/<id> holding step.json in one atomic rename of a
// prepared directory; renaming onto an existing (non-empty) step directory
// fails, which is how a second Start of the same id is refused.
func (e *Executor) create(id string, rec stepRecord) error {
	var suffix [6]byte
	_, _ = rand.Read(suffix[:])
	tmp := filepath.Join(e.dir, ".tmp-"+id+"-"+hex.EncodeToString(suffix[:]))
	if err := os.Mkdir(tmp, 0o700); err != nil {
		return fmt.Errorf("step %s: %w", id, err)
	}
	defer func() { _ = os.RemoveAll(tmp) }()
	if err := writeJSONAtomic(tmp, stepFile, rec); err != nil {
		return fmt.Errorf("step %s: %w", id, err)
	}
	// os.Rename refuses an existing directory as the target; rename(2)
	// itself refuses a non-empty one, should another Start win the race.
	if err := os.Rename(tmp, e.stepDir(id)); err != nil {
		if errors.Is(err, syscall.EEXIST) || errors.Is(err, syscall.ENOTEMPTY) || errors.Is(err, syscall.ENOTDIR) {
			return fmt.Errorf("step %s: %w", id, ErrExists)
		}
		return fmt.Errorf("step %s: %w", id, err)
	}
	if err := fsutil.SyncDir(e.dir); err != nil {
		return fmt.Errorf("step %s: %w", id, err)
	}
	return nil
}

// launchDetached starts the runner in a session of its own with /dev/null
// for stdin, stdout and stderr, so that it survives this process. The
// runner is reaped by a goroutine while this process lives; after this
// process dies, by whoever adopts it.
func (e *Executor) launchDetached(log logr.Logger, dir string) error {
	argv := slices.Concat(e.self, []string{dir})
	cmd := osexec.Command(argv[0], argv[1:]...)
	cmd.Dir = "/"
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start runner %q: %w", argv, err)
	}
	log.V(1).Info("runner started", "pid", cmd.Process.Pid)
	go func() {
		err := cmd.Wait()
		if err != nil {
			log.V(1).Info("runner exited", "pid", cmd.Process.Pid, "error", err.Error())
		} else {
			log.V(1).Info("runner exited", "pid", cmd.Process.Pid)
		}
		e.mu.Lock()
		close(e.changed)
		e.changed = make(chan struct{})
		e.mu.Unlock()
	}()
	return nil
}

// launchSystemd starts the runner in a transient unit.
func (e *Executor) launchSystemd(ctx context.Context, id, dir string) error {
	argv := systemdRunArgv(e.systemdRun, id, e.self, dir)
	cmd := osexec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Dir = "/"
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s %q: %w (output: %q)", argv[0], argv[1:], err, strings.TrimSpace(string(out)))
	}
	return nil
}

// Status reports the step's state. It returns an error satisfying
// errors.Is(err, ErrNotFound) for an unknown id.
func (e *Executor) Status(id string) (State, error) {
	if err := validID(id); err != nil {
		return State{}, err
	}
	dir := e.stepDir(id)
	var o observed
	if err := readJSON(dir, stepFile, &o.step); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return State{}, fmt.Errorf("step %s: %w", id, ErrNotFound)
		}
		return State{}, fmt.Errorf("step %s: %w", id, err)
	}
	// Two rounds at most: a runner may claim the step, or finish, while
	// we look.
	for range 2 {
		if err := e.observe(dir, &o); err != nil {
			return State{}, fmt.Errorf("step %s: %w", id, err)
		}
		s := stateFrom(id, o, e.clock.Now(), e.startGrace)
		switch {
		case s.Phase == PhaseLost && o.runner == nil:
			// Keep a late runner from ever running the step we now
			// report as lost.
			abandon := runnerRecord{Abandoned: true, Message: s.Message}
			err := claimJSON(dir, runnerFile, abandon)
			if err == nil {
				return s, nil
			}
			if !errors.Is(err, fs.ErrExist) {
				return State{}, fmt.Errorf("step %s: %w", id, err)
			}
		case s.Phase == PhaseLost && o.result == nil:
			// The runner may have written its result and exited
			// between reading result.json and checking the pid.
			var res resultRecord
			found, err := readOptional(dir, resultFile, &res)
			if err != nil {
				return State{}, fmt.Errorf("step %s: %w", id, err)
			}
			if !found {
				return s, nil
			}
		default:
			return s, nil
		}
	}
	return stateFrom(id, o, e.clock.Now(), e.startGrace), nil
}

// observe reads runner.json, result.json and the runner's liveness.
func (e *Executor) observe(dir string, o *observed) error {
	o.runner, o.result, o.alive = nil, nil, false
	var res resultRecord
	found, err := readOptional(dir, resultFile, &res)
	if err != nil {
		return err
	}
	if found {
		o.result = &res
	}
	var run runnerRecord
	found, err = readOptional(dir, runnerFile, &run)
	if err != nil {
		return err
	}
	if found {
		o.runner = &run
		if o.result == nil && !run.Abandoned {
			o.alive, err = e.alive(run)
		}
	}
	return err
}

// alive is true when the recorded runner is still the process with its
// pid: same boot, same start time, not exited.
func (e *Executor) alive(r runnerRecord) (bool, error) {
	if r.PID <= 0 {
		return false, nil
	}
	boot, err := e.proc.BootID()
	if err != nil {
		return false, fmt.Errorf("read boot id: %w", err)
	}
	if boot != r.BootID {
		return false, nil
	}
	st, err := e.proc.Stat(r.PID)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ESRCH) {
			return false, nil
		}
		return false, fmt.Errorf("read process %d: %w", r.PID, err)
	}
	return st.StartTime == r.StartTime && !st.Exited(), nil
}

// Wait returns the step's state once it is Succeeded, Failed or Lost, or
// the context's error. It polls with a backoff of up to 200ms, and wakes
// at once when a runner this Executor started exits.
func (e *Executor) Wait(ctx context.Context, id string) (State, error) {
	const maxDelay = 200 * time.Millisecond
	delay := 5 * time.Millisecond
	timer := time.NewTimer(0)
	defer timer.Stop()
	<-timer.C
	for {
		e.mu.Lock()
		changed := e.changed
		e.mu.Unlock()
		s, err := e.Status(id)
		if err != nil || s.Phase.Done() {
			return s, err
		}
		timer.Reset(delay)
		select {
		case <-ctx.Done():
			return s, fmt.Errorf("wait for step %s: %w", id, ctx.Err())
		case <-changed:
			timer.Stop()
		case <-timer.C:
		}
		delay = min(2*delay, maxDelay)
	}
}

// Tail returns at most the last n bytes of the step's output (empty before
// the runner wrote any).
func (e *Executor) Tail(id string, n int64) ([]byte, error) {
	f, err := e.OpenLog(id)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer func() { _ = f.Close() }()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("step %s log: %w", id, err)
	}
	off := min(max(fi.Size()-n, 0), fi.Size())
	b := make([]byte, fi.Size()-off)
	k, err := f.ReadAt(b, off)
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("step %s log: %w", id, err)
	}
	return b[:k], nil
}

// OpenLog opens the step's full output for reading. A step without output
// yet returns an error satisfying errors.Is(err, fs.ErrNotExist); an
// unknown step one satisfying errors.Is(err, ErrNotFound).
func (e *Executor) OpenLog(id string) (*os.File, error) {
	if err := validID(id); err != nil {
		return nil, err
	}
	f, err := os.Open(e.LogPath(id))
	if errors.Is(err, fs.ErrNotExist) {
		if _, serr := os.Stat(filepath.Join(e.stepDir(id), stepFile)); errors.Is(serr, fs.ErrNotExist) {
			return nil, fmt.Errorf("step %s: %w", id, ErrNotFound)
		}
	}
	return f, err
}

// List returns the ids of the known steps, sorted.
func (e *Executor) List() ([]string, error) {
	entries, err := os.ReadDir(e.dir)
	if err != nil {
		return nil, fmt.Errorf("list steps: %w", err)
	}
	var ids []string
	for _, ent := range entries {
		if ent.IsDir() && validID(ent.Name()) == nil {
			ids = append(ids, ent.Name())
		}
	}
	return ids, nil
}

// Prune removes the directories of all finished (Succeeded, Failed, Lost)
// steps but the keep most recent ones, and returns the removed ids.
// Pending and Running steps are never removed. Leftovers of interrupted
// Starts older than the start grace go too.
func (e *Executor) Prune(keep int) ([]string, error) {
	ids, err := e.List()
	if err != nil {
		return nil, err
	}
	type done struct {
		id string
		at time.Time
	}
	var finished []done
	for _, id := range ids {
		s, err := e.Status(id)
		if errors.Is(err, ErrNotFound) {
			continue // a directory without step.json is none of ours
		}
		if err != nil {
			return nil, err
		}
		if !s.Phase.Done() {
			continue
		}
		at := s.FinishedAt
		if at.IsZero() {
			at = s.CreatedAt
		}
		finished = append(finished, done{id, at})
	}
	slices.SortFunc(finished, func(a, b done) int {
		if c := a.at.Compare(b.at); c != 0 {
			return c
		}
		return strings.Compare(a.id, b.id)
	})
	var removed []string
	for _, d := range finished[:max(len(finished)-max(keep, 0), 0)] {
		if err := e.remove(d.id); err != nil {
			return removed, err
		}
		removed = append(removed, d.id)
	}
	e.removeStaleTemps()
	if len(removed) > 0 {
		e.log.V(1).Info("pruned steps", "steps", removed)
	}
	return removed, nil
}

// remove renames the step directory out of the way first, so that a
// half-removed step is never seen as a step.
func (e *Executor) remove(id string) error {
	var suffix [6]byte
	_, _ = rand.Read(suffix[:])
	trash := filepath.Join(e.dir, ".prune-"+id+"-"+hex.EncodeToString(suffix[:]))
	if err := os.Rename(e.stepDir(id), trash); err != nil {
		return fmt.Errorf("prune step %s: %w", id, err)
	}
	if err := os.RemoveAll(trash); err != nil {
		return fmt.Errorf("prune step %s: %w", id, err)
	}
	return fsutil.SyncDir(e.dir)
}

func (e *Executor) removeStaleTemps() {
	entries, err := os.ReadDir(e.dir)
	if err != nil {
		return
	}
	for _, ent := range entries {
		name := ent.Name()
		if !strings.HasPrefix(name, ".tmp-") && !strings.HasPrefix(name, ".prune-") {
			continue
		}
		info, err := ent.Info()
		if err != nil || e.clock.Now().Sub(info.ModTime()) < e.startGrace {
			continue
		}
		if err := os.RemoveAll(filepath.Join(e.dir, name)); err != nil {
			e.log.Error(err, "cannot remove leftover", "path", filepath.Join(e.dir, name))
		}
	}
}
