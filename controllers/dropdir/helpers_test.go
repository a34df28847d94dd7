package dropdir_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/go-logr/logr"
	"github.com/go-logr/logr/funcr"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"github.com/patchlet/patchlet/api/v1alpha1"
	"github.com/patchlet/patchlet/controllers/dropdir"
	"github.com/patchlet/patchlet/store"
)

// logLines records what a logger was given, for assertions on logging.
type logLines struct {
	mu    sync.Mutex
	lines []string
}

func (l *logLines) logger() logr.Logger {
	return funcr.New(func(prefix, args string) {
		l.mu.Lock()
		defer l.mu.Unlock()
		l.lines = append(l.lines, args)
	}, funcr.Options{Verbosity: 1})
}

// count returns how many lines contain every one of parts.
func (l *logLines) count(parts ...string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
next:
	for _, line := range l.lines {
		for _, p := range parts {
			if !strings.Contains(line, p) {
				continue next
			}
		}
		n++
	}
	return n
}

// env is a drop directory, a store and a watcher over them.
type env struct {
	root string // temp dir holding everything
	dir  string // the drop directory
	st   *store.Store
	w    *dropdir.Watcher
	logs *logLines
}

// newEnv makes a store and a watcher for dir (relative to a fresh temp dir;
// not created here).
func newEnv(dir string) *env {
	root := GinkgoT().TempDir()
	st, err := store.Open(filepath.Join(root, "state"), store.Options{Log: logr.Discard()})
	Expect(err).NotTo(HaveOccurred())
	e := &env{root: root, dir: filepath.Join(root, dir), st: st, logs: &logLines{}}
	e.w = dropdir.New(dropdir.Options{Dir: e.dir, Store: st, Log: e.logs.logger()})
	return e
}

// newStartedEnv makes the drop directory "policies.d", then starts the watcher.
func newStartedEnv() *env {
	e := newEnv("policies.d")
	Expect(os.MkdirAll(e.dir, 0o755)).To(Succeed())
	e.start()
	return e
}

// start runs the watcher until the spec ends, and waits for its first sync.
func (e *env) start() {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.w.Run(ctx) }()
	DeferCleanup(func() {
		cancel()
		Eventually(done).Should(Receive(BeNil()))
	})
	Eventually(func() string {
		err := e.w.Ready()
		if err != nil && strings.Contains(err.Error(), "initial sync not done") {
			return err.Error()
		}
		return ""
	}).Should(BeEmpty())
}

func (e *env) path(name string) string { return filepath.Join(e.dir, name) }

// write writes a file in place (not atomically), as a careless editor does.
func (e *env) write(name, content string) {
	GinkgoHelper()
	Expect(os.WriteFile(e.path(name), []byte(content), 0o644)).To(Succeed())
}

// writeAtomic writes a temporary file beside name and renames it over.
func (e *env) writeAtomic(name, content string) {
	GinkgoHelper()
	tmp := e.path("." + name + ".tmp")
	Expect(os.WriteFile(tmp, []byte(content), 0o644)).To(Succeed())
	Expect(os.Rename(tmp, e.path(name))).To(Succeed())
}

func (e *env) remove(name string) {
	GinkgoHelper()
	Expect(os.Remove(e.path(name))).To(Succeed())
}

// get returns a stored policy, or nil when there is none.
func (e *env) get(name string) *v1alpha1.PatchPolicy {
	GinkgoHelper()
	o, err := e.st.Get(store.PatchPolicies, name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	Expect(err).NotTo(HaveOccurred())
	return o.(*v1alpha1.PatchPolicy)
}

// names returns the names of the stored policies.
func (e *env) names() []string {
	items, _, err := e.st.List(store.PatchPolicies)
	Expect(err).NotTo(HaveOccurred())
	out := []string{}
	for _, it := range items {
		out = append(out, it.Object.GetName())
	}
	sort.Strings(out)
	return out
}

// packages returns the package names of a stored policy ("<absent>" when
// there is no such policy), for Eventually.
func (e *env) packages(name string) func() string {
	return func() string {
		p := e.get(name)
		if p == nil {
			return "<absent>"
		}
		var out []string
		for _, pk := range p.Spec.Packages {
			out = append(out, pk.Name)
		}
		return strings.Join(out, ",")
	}
}

// source returns the source-file annotation of a stored policy, for Eventually.
func (e *env) source(name string) func() string {
	return func() string {
		p := e.get(name)
		if p == nil {
			return "<absent>"
		}
		return p.Annotations[v1alpha1.AnnotationSourceFile]
	}
}

// problems returns the current problems as "file: error" strings, for Eventually.
func (e *env) problems() []string {
	var out []string
	for _, p := range e.w.Problems() {
		out = append(out, p.File+": "+p.Error)
	}
	return out
}

// policy is one PatchPolicy document managing the given packages.
func policy(name string, pkgs ...string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "apiVersion: patchlet.io/v1alpha1\nkind: PatchPolicy\nmetadata:\n  name: %s\nspec:\n", name)
	if len(pkgs) > 0 {
		b.WriteString("  packages:\n")
		for _, p := range pkgs {
			fmt.Fprintf(&b, "  - name: %s\n", p)
		}
	}
	return b.String()
}

// docs joins documents into one multi-document YAML stream.
func docs(d ...string) string { return strings.Join(d, "---\n") }

// measureDropLatency drops n files into e.dir one after another (each
// written beside and renamed in) and returns, for each, the time from the
// rename to the policy's creation event in the store.
func measureDropLatency(ctx context.Context, e *env, n int) ([]time.Duration, error) {
	events, err := e.st.Watch(ctx, store.PatchPolicies, e.st.ResourceVersion())
	if err != nil {
		return nil, err
	}
	out := make([]time.Duration, 0, n)
	for i := range n {
		name := fmt.Sprintf("drop-%03d", i)
		tmp := filepath.Join(e.dir, "."+name+".tmp")
		if err := os.WriteFile(tmp, []byte(policy(name, "openssl")), 0o644); err != nil {
			return nil, err
		}
		if err := os.Rename(tmp, filepath.Join(e.dir, name+".yaml")); err != nil {
			return nil, err
		}
		start := time.Now()
		timeout := time.After(5 * time.Second)
	wait:
		for {
			select {
			case ev, ok := <-events:
				if !ok {
					return nil, fmt.Errorf("store watch closed")
				}
				if ev.Object.GetName() == name {
					out = append(out, time.Since(start))
					break wait
				}
			case <-timeout:
				return nil, fmt.Errorf("%s did not reach the store within 5s", name)
			}
		}
	}
	return out, nil
}

// percentile returns the p-th percentile (0..100) of ds.
func percentile(ds []time.Duration, p float64) time.Duration {
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	idx := int(float64(len(s))*p/100+0.5) - 1
	idx = min(max(idx, 0), len(s)-1)
	return s[idx]
}
