package store_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1 "github.com/patchlet/patchlet/api/v1alpha1"
	"github.com/patchlet/patchlet/store"
)

// The crash test re-runs this test binary as a child that writes to a store
// in a loop until it is killed. These variables tell TestMain to be that child.
const (
	crashDirEnv  = "PATCHLET_STORE_CRASH_DIR"
	crashLogEnv  = "PATCHLET_STORE_CRASH_LOG"
	crashSeedEnv = "PATCHLET_STORE_CRASH_SEED"
)

func TestMain(m *testing.M) {
	if dir := os.Getenv(crashDirEnv); dir != "" {
		seed, _ := strconv.ParseUint(os.Getenv(crashSeedEnv), 10, 64)
		if err := crashChild(dir, os.Getenv(crashLogEnv), seed); err != nil {
			fmt.Fprintln(os.Stderr, "crash child:", err)
			os.Exit(2)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// snapshot is the part of a policy the child chooses: what must survive a crash.
type snapshot struct {
	Labels map[string]string    `json:"labels,omitempty"`
	Spec   v1.PatchPolicySpec   `json:"spec"`
	Status v1.PatchPolicyStatus `json:"status"`
}

func snapshotOf(p *v1.PatchPolicy) snapshot {
	return snapshot{Labels: p.Labels, Spec: p.Spec, Status: p.Status}
}

func (s snapshot) key() string {
	b, err := json.Marshal(s)
	if err != nil {
		panic(err)
	}
	return string(b)
}

// logLine is one line of the child's log: an intent (before a write) or
// its completion (after it).
type logLine struct {
	Seq   uint64  `json:"seq"`
	Name  string  `json:"name,omitempty"`
	Op    string  `json:"op,omitempty"`
	State *string `json:"state,omitempty"` // snapshot key after the write; nil: deleted
	Done  bool    `json:"done,omitempty"`
	RV    uint64  `json:"rv,omitempty"`
}

var crashNames = []string{"p-0", "p-1", "p-2", "p-3", "p-4", "p-5"}

// crashChild writes to the store under dir until it is killed. Before each
// write it appends the state it intends to the log, after it the
// resourceVersion it got; each line is one write(2), so a kill leaves at
// most a torn last line.
func crashChild(dir, logPath string, seed uint64) error {
	s, err := store.Open(dir, store.Options{})
	if err != nil {
		return err
	}
	lf, err := os.OpenFile(logPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	logf := func(l logLine) error {
		b, err := json.Marshal(l)
		if err != nil {
			return err
		}
		_, err = lf.Write(append(b, '\n'))
		return err
	}
	model := map[string]*v1.PatchPolicy{}
	items, _, err := s.List(store.PatchPolicies)
	if err != nil {
		return err
	}
	for _, it := range items {
		model[it.Object.GetName()] = it.Object.(*v1.PatchPolicy).DeepCopy()
	}
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	fmt.Println("ready")

	deadline := time.Now().Add(30 * time.Second) // never outlive a lost parent for long
	for seq := seed * 1_000_000; time.Now().Before(deadline); seq++ {
		name := crashNames[rng.IntN(len(crashNames))]
		cur, exists := model[name]
		op := "create"
		if exists {
			switch r := rng.IntN(10); {
			case r < 5:
				op = "update"
			case r < 8:
				op = "status"
			default:
				op = "delete"
			}
		}
		next := &v1.PatchPolicy{ObjectMeta: metav1.ObjectMeta{Name: name}}
		switch op {
		case "create", "update":
			if exists {
				next = cur.DeepCopy()
			}
			next.Labels = map[string]string{"seq": strconv.FormatUint(seq, 10)}
			// Growing content: up to a few hundred packages, some 20 KiB of JSON.
			n := 1 + int(seq%400)
			next.Spec.Packages = make([]v1.PackageSpec, n)
			for i := range next.Spec.Packages {
				next.Spec.Packages[i] = v1.PackageSpec{Name: fmt.Sprintf("pkg-%d-%d", seq, i), State: v1.PackagePresent}
			}
		case "status":
			next = cur.DeepCopy()
			next.Status.Pending = int32(seq % 1000)
			next.Status.LastOperation = fmt.Sprintf("op-%d", seq)
			next.Status.Plan = make([]v1.PlanItem, seq%50)
			for i := range next.Status.Plan {
				next.Status.Plan[i] = v1.PlanItem{Package: fmt.Sprintf("pkg-%d", i), Action: v1.ActionUpgrade, Reason: "Outdated"}
			}
		}
		intent := logLine{Seq: seq, Name: name, Op: op}
		if op != "delete" {
			k := snapshotOf(next).key()
			intent.State = &k
		}
		if err := logf(intent); err != nil {
			return err
		}
		var got v1.Object
		switch op {
		case "create":
			got, err = s.Create(store.PatchPolicies, next)
		case "update":
			got, err = s.Update(store.PatchPolicies, next)
		case "status":
			got, err = s.UpdateStatus(store.PatchPolicies, next)
		case "delete":
			got, err = s.Delete(store.PatchPolicies, name, cur.ResourceVersion)
		}
		if err != nil {
			return fmt.Errorf("%s %s: %w", op, name, err)
		}
		rv, err := strconv.ParseUint(got.GetResourceVersion(), 10, 64)
		if err != nil {
			return err
		}
		if op == "delete" {
			delete(model, name)
		} else {
			model[name] = got.(*v1.PatchPolicy)
		}
		if err := logf(logLine{Seq: seq, Done: true, RV: rv}); err != nil {
			return err
		}
	}
	return nil
}

// crashRun starts a child, waits until it has completed minDone writes,
// lets it go on for a little while and SIGKILLs it.
func crashRun(dir, logPath string, seed uint64, minDone int, after time.Duration) {
	GinkgoHelper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), crashDirEnv+"="+dir, crashLogEnv+"="+logPath, crashSeedEnv+"="+strconv.FormatUint(seed, 10))
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	Expect(err).NotTo(HaveOccurred())
	Expect(cmd.Start()).To(Succeed())
	ready := make(chan string, 1)
	go func() {
		line, _ := bufio.NewReader(out).ReadString('\n')
		ready <- line
	}()
	select {
	case line := <-ready:
		if strings.TrimSpace(line) != "ready" {
			_ = cmd.Wait()
			Fail(fmt.Sprintf("child did not start: %q, stderr: %s", line, stderr.String()))
		}
	case <-time.After(20 * time.Second):
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		Fail("child did not become ready")
	}
	Eventually(func() int {
		b, _ := os.ReadFile(logPath)
		return bytes.Count(b, []byte(`"done":true`))
	}).WithTimeout(20*time.Second).WithPolling(time.Millisecond).Should(BeNumerically(">=", minDone),
		"the child did not write: %s", &stderr)
	time.Sleep(after)
	Expect(cmd.Process.Signal(syscall.SIGKILL)).To(Succeed())
	err = cmd.Wait()
	ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus)
	Expect(ok && ws.Signaled() && ws.Signal() == syscall.SIGKILL).To(BeTrue(),
		"child ended before the kill: %v, stderr: %s", err, stderr.String())
}

// readCrashLog parses a child's log; only the last line may be torn.
func readCrashLog(path string) []logLine {
	GinkgoHelper()
	b, err := os.ReadFile(path)
	Expect(err).NotTo(HaveOccurred())
	lines := strings.Split(string(b), "\n")
	var out []logLine
	for i, l := range lines {
		if l == "" {
			continue
		}
		var ll logLine
		if err := json.Unmarshal([]byte(l), &ll); err != nil {
			Expect(i).To(Equal(len(lines)-1), "torn line %q in the middle of the log", l)
			continue
		}
		out = append(out, ll)
	}
	return out
}

var _ = Describe("crash safety", Label("crash"), func() {
	It("leaves old-or-new objects, no temporary files and increasing resourceVersions after 100 SIGKILLs", func() {
		dir := GinkgoT().TempDir()
		logs := GinkgoT().TempDir()
		rng := rand.New(rand.NewPCG(uint64(GinkgoRandomSeed()), 1))

		onDisk := map[string]string{} // name → snapshot key, as verified after the last kill
		var maxRV uint64              // highest resourceVersion acknowledged or loaded so far
		var acked, wantAcked, inFlight, newSeen int
		deadline := time.Now().Add(90 * time.Second)
		const kills = 100
		for k := 1; k <= kills; k++ {
			Expect(time.Now().Before(deadline)).To(BeTrue(), "the crash test is too slow (%d kills so far)", k-1)
			logPath := filepath.Join(logs, fmt.Sprintf("child-%d.log", k))
			minDone := rng.IntN(4)
			wantAcked += minDone
			crashRun(dir, logPath, uint64(k), minDone, time.Duration(rng.IntN(5_000))*time.Microsecond)

			// What may be on disk: per name the last acknowledged state, or
			// the state of the one write that was in flight.
			allowed := map[string]map[string]bool{} // name → set of keys ("" = absent)
			last := map[string]string{}
			for n, key := range onDisk {
				last[n] = key
			}
			entries := readCrashLog(logPath)
			var pending *logLine
			for i := range entries {
				e := entries[i]
				if !e.Done {
					Expect(pending).To(BeNil(), "two intents without completion")
					pending = &entries[i]
					continue
				}
				Expect(pending).NotTo(BeNil(), "completion without intent")
				Expect(e.Seq).To(Equal(pending.Seq))
				Expect(e.RV).To(BeNumerically(">", maxRV), "resourceVersion %d handed out again or went back (kill %d)", e.RV, k)
				maxRV = e.RV
				if pending.State == nil {
					delete(last, pending.Name)
				} else {
					last[pending.Name] = *pending.State
				}
				pending = nil
				acked++
			}
			for _, n := range crashNames {
				allowed[n] = map[string]bool{last[n]: true}
			}
			if pending != nil {
				inFlight++
				if pending.State == nil {
					allowed[pending.Name][""] = true
				} else {
					allowed[pending.Name][*pending.State] = true
				}
			}

			s, err := store.Open(dir, store.Options{Log: GinkgoLogr})
			Expect(err).NotTo(HaveOccurred(), "reopen after kill %d", k)
			Expect(tempFiles(dir)).To(BeEmpty(), "after kill %d", k)
			Expect(s.ResourceVersion()).To(BeNumerically(">=", maxRV), "after kill %d", k)

			files, err := filepath.Glob(filepath.Join(dir, "objects", "patchpolicies", "*"))
			Expect(err).NotTo(HaveOccurred())
			now := map[string]string{}
			for _, f := range files {
				Expect(f).To(HaveSuffix(".json"), "unexpected file after kill %d", k)
				b, err := os.ReadFile(f)
				Expect(err).NotTo(HaveOccurred())
				obj, err := v1.Decode(b)
				Expect(err).NotTo(HaveOccurred(), "torn file %s after kill %d", f, k)
				p := obj.(*v1.PatchPolicy)
				Expect(filepath.Base(f)).To(Equal(p.Name + ".json"))
				rv := rvOf(p)
				Expect(rv).To(BeNumerically("<=", s.ResourceVersion()))
				j, err := s.GetJSON(store.PatchPolicies, p.Name)
				Expect(err).NotTo(HaveOccurred())
				Expect(j).To(MatchJSON(b), "the store serves what is on disk")
				now[p.Name] = snapshotOf(p).key()
			}
			for _, n := range crashNames {
				key := now[n]
				Expect(allowed[n]).To(HaveKey(key), "after kill %d, %s holds a state the child never wrote, or lost an acknowledged one", k, n)
				if pending != nil && pending.Name == n && key != last[n] {
					newSeen++
				}
			}
			maxRV = max(maxRV, s.ResourceVersion())
			onDisk = now
		}
		AddReportEntry("crash test", fmt.Sprintf("%d kills, %d acknowledged writes, %d kills during a write (%d of them already on disk), final resourceVersion %d",
			kills, acked, inFlight, newSeen, maxRV))
		Expect(acked).To(BeNumerically(">=", wantAcked), "writes the parent waited for are missing from the logs")
		Expect(inFlight).To(BeNumerically(">", 0), "no kill landed during a write")
	})
})
