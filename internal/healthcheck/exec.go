package healthcheck

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/patchlet/patchlet/api/v1alpha1"
)

// exec runs the check executable name from the checks directory once.
func (c *Checker) exec(ctx context.Context, policy, name string, timeout time.Duration) (bool, string) {
	if !v1alpha1.IsCheckName(name) {
		return false, fmt.Sprintf("exec check %s refused: not a file name in the checks directory %s", quoteName(name), c.dir)
	}
	path := filepath.Join(c.dir, name)
	if err := c.trusted(path); err != nil {
		return false, fmt.Sprintf("exec check %s refused: %s", path, err)
	}
	return run(ctx, path, policy, timeout)
}

// trusted checks that the checks directory and the file at path may be
// run: both owned by root or the agent's user and not writable by group or
// others, the file a regular file (not a symbolic link) and executable.
func (c *Checker) trusted(path string) error {
	di, err := os.Stat(c.dir)
	if err != nil {
		return fmt.Errorf("checks directory: %w", err)
	}
	if !di.IsDir() {
		return fmt.Errorf("checks directory %s is not a directory", c.dir)
	}
	if err := c.safeOwner(di, "the checks directory "+c.dir); err != nil {
		return err
	}
	fi, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return errors.New("no such file: install the check there (a regular executable file owned by root, not writable by group or others)")
	}
	if err != nil {
		return err
	}
	switch {
	case fi.Mode()&fs.ModeSymlink != 0:
		return errors.New("it is a symbolic link; a check must be a regular file")
	case !fi.Mode().IsRegular():
		return fmt.Errorf("not a regular file (%s)", fi.Mode().Type())
	}
	if err := c.safeOwner(fi, "the file"); err != nil {
		return err
	}
	if fi.Mode().Perm()&0o111 == 0 {
		return fmt.Errorf("not executable (mode %04o)", fi.Mode().Perm())
	}
	return nil
}

// safeOwner refuses a file or directory that someone other than root or
// the agent's user owns or may write.
func (c *Checker) safeOwner(fi fs.FileInfo, what string) error {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return fmt.Errorf("cannot read the owner of %s", what)
	}
	if st.Uid != 0 && int(st.Uid) != c.euid {
		return fmt.Errorf("%s is owned by uid %d; it must be owned by root or by the agent's user (uid %d)", what, st.Uid, c.euid)
	}
	if perm := fi.Mode().Perm(); perm&0o022 != 0 {
		return fmt.Errorf("%s is writable by group or others (mode %04o); chmod go-w it", what, perm)
	}
	return nil
}

// run runs path without arguments or a shell, in / with a minimal
// environment and in a process group of its own, which is killed as a whole
// when timeout passes (and once the check exited, so that nothing it left
// behind lives on).
func run(ctx context.Context, path, policy string, timeout time.Duration) (bool, string) {
	r, w, err := os.Pipe()
	if err != nil {
		return false, fmt.Sprintf("exec check %s: %v", path, err)
	}
	defer r.Close()
	cmd := &exec.Cmd{
		Path:        path,
		Args:        []string{path},
		Dir:         "/",
		Env:         []string{checkPath, "LC_ALL=C", "PATCHLET_POLICY=" + policy},
		Stdout:      w,
		Stderr:      w,
		SysProcAttr: &syscall.SysProcAttr{Setpgid: true},
	}
	err = cmd.Start()
	w.Close()
	if err != nil {
		return false, fmt.Sprintf("exec check %s could not start: %v", path, err)
	}
	pid := cmd.Process.Pid
	output := make(chan []byte, 1)
	go func() { output <- readTail(r, outputKeep) }()

	// Learn that the check exited without reaping it: while it is a
	// zombie, its process group id cannot be reused, so killing the group
	// can only hit what the check started.
	exited := make(chan struct{})
	go func() {
		defer close(exited)
		var info unix.Siginfo
		for {
			err := unix.Waitid(unix.P_PID, pid, &info, unix.WEXITED|unix.WNOWAIT, nil)
			if !errors.Is(err, unix.EINTR) {
				return
			}
		}
	}()
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	var stopped string
	select {
	case <-exited:
	case <-timer.C:
		stopped = fmt.Sprintf("timed out after %s; its process group was killed", timeout)
		_ = syscall.Kill(-pid, syscall.SIGKILL)
		<-exited
	case <-ctx.Done():
		stopped = fmt.Sprintf("interrupted (%v); its process group was killed", ctx.Err())
		_ = syscall.Kill(-pid, syscall.SIGKILL)
		<-exited
	}
	_ = syscall.Kill(-pid, syscall.SIGKILL) // whatever the check left running
	werr := cmd.Wait()
	_ = r.SetReadDeadline(time.Now().Add(waitOutput))
	tail := printable(<-output, messageOutput)

	passed := false
	var msg string
	var exitErr *exec.ExitError
	switch {
	case stopped != "":
		msg = fmt.Sprintf("exec check %s %s", path, stopped)
	case werr == nil:
		passed = true
		msg = fmt.Sprintf("exec check %s passed (exit status 0)", path)
	case errors.As(werr, &exitErr):
		if ws, ok := exitErr.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			msg = fmt.Sprintf("exec check %s failed: killed by signal %s", path, ws.Signal())
		} else {
			msg = fmt.Sprintf("exec check %s failed: exit status %d", path, exitErr.ExitCode())
		}
	default:
		msg = fmt.Sprintf("exec check %s failed: %v", path, werr)
	}
	if tail != "" {
		msg += "; output: " + tail
	}
	return passed, msg
}

// readTail reads r to its end (or an error) and returns the last n bytes.
func readTail(r io.Reader, n int) []byte {
	buf := make([]byte, 0, 2*n)
	chunk := make([]byte, 4096)
	for {
		k, err := r.Read(chunk)
		buf = append(buf, chunk[:k]...)
		if len(buf) > n {
			buf = append(buf[:0], buf[len(buf)-n:]...)
		}
		if err != nil {
			return buf
		}
	}
}
