package toolkit

import (
	"context"
	"fmt"
	"time"

	"github.com/patchlet/patchlet/backends"
)

// LocateTimeout bounds the one query a backend's New asks its package
// manager where its database is (rpm --eval, apt-config, pacman-conf).
const LocateTimeout = 30 * time.Second

// QueryOnce runs argv, a read-only query outside any Observe, with env
// and LocateTimeout; its error names the command, its arguments and the
// tail of stderr.
func QueryOnce(r backends.Runner, argv, env []string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), LocateTimeout)
	defer cancel()
	stdout, stderr, err := r.Run(ctx, argv, env)
	if err != nil {
		return stdout, fmt.Errorf("%q: %w (stderr: %q)", argv, err, Tail(stderr, outputTail))
	}
	return stdout, nil
}
