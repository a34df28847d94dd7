package store_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1 "github.com/patchlet/patchlet/api/v1alpha1"
	"github.com/patchlet/patchlet/store"
)

var epoch = time.Date(2026, 11, 22, 9, 12, 3, 500_000_000, time.UTC)

func openStore(dir string) *store.Store {
	GinkgoHelper()
	s, err := store.Open(dir, store.Options{Log: GinkgoLogr, Now: func() time.Time { return epoch }})
	Expect(err).NotTo(HaveOccurred())
	return s
}

func newPolicy(name string, pkgs ...string) *v1.PatchPolicy {
	p := &v1.PatchPolicy{ObjectMeta: metav1.ObjectMeta{Name: name}}
	for _, n := range pkgs {
		p.Spec.Packages = append(p.Spec.Packages, v1.PackageSpec{Name: n, State: v1.PackagePresent})
	}
	return p
}

func rvOf(o v1.Object) uint64 {
	GinkgoHelper()
	n, err := strconv.ParseUint(o.GetResourceVersion(), 10, 64)
	Expect(err).NotTo(HaveOccurred(), "resourceVersion %q", o.GetResourceVersion())
	return n
}

func mustCreate(s *store.Store, p *v1.PatchPolicy) *v1.PatchPolicy {
	GinkgoHelper()
	o, err := s.Create(store.PatchPolicies, p)
	Expect(err).NotTo(HaveOccurred())
	return o.(*v1.PatchPolicy)
}

func mustGet(s *store.Store, name string) *v1.PatchPolicy {
	GinkgoHelper()
	o, err := s.Get(store.PatchPolicies, name)
	Expect(err).NotTo(HaveOccurred())
	return o.(*v1.PatchPolicy)
}

// fileOf returns the stat of an object's file, to tell whether it was rewritten.
func fileOf(dir, resource, name string) os.FileInfo {
	GinkgoHelper()
	fi, err := os.Stat(filepath.Join(dir, "objects", resource, name+".json"))
	Expect(err).NotTo(HaveOccurred())
	return fi
}

var _ = Describe("Store", func() {
	var (
		dir string
		s   *store.Store
	)
	BeforeEach(func() {
		dir = GinkgoT().TempDir()
		s = openStore(dir)
	})

	Describe("Create", func() {
		It("sets uid, creationTimestamp, generation 1, a resourceVersion and the kind", func() {
			p := newPolicy("web", "openssl")
			p.UID = "client-chosen"
			p.Generation = 7
			p.ResourceVersion = "999"
			p.Namespace = "default"
			got := mustCreate(s, p)
			Expect(got.UID).NotTo(BeEmpty())
			Expect(got.UID).NotTo(BeEquivalentTo("client-chosen"))
			Expect(got.CreationTimestamp.Time).To(Equal(epoch.Truncate(time.Second)))
			Expect(got.Generation).To(BeEquivalentTo(1))
			Expect(rvOf(got)).To(BeEquivalentTo(1))
			Expect(got.Namespace).To(BeEmpty())
			Expect(got.APIVersion).To(Equal("patchlet.io/v1alpha1"))
			Expect(got.Kind).To(Equal(v1.KindPatchPolicy))
			Expect(p.UID).To(BeEquivalentTo("client-chosen"), "the caller's object is not modified")
			Expect(mustGet(s, "web")).To(Equal(got))
		})

		It("writes one readable 0600 file per object whose content is what GetJSON returns", func() {
			mustCreate(s, newPolicy("web", "openssl"))
			path := filepath.Join(dir, "objects", "patchpolicies", "web.json")
			fi, err := os.Stat(path)
			Expect(err).NotTo(HaveOccurred())
			Expect(fi.Mode().Perm()).To(Equal(os.FileMode(0o600)))
			onDisk, err := os.ReadFile(path)
			Expect(err).NotTo(HaveOccurred())
			j, err := s.GetJSON(store.PatchPolicies, "web")
			Expect(err).NotTo(HaveOccurred())
			Expect(onDisk).To(MatchJSON(j))
			_, err = v1.Decode(onDisk)
			Expect(err).NotTo(HaveOccurred(), "the file is a strict, complete document")
		})

		It("refuses a second object of the same name with AlreadyExists and keeps the first", func() {
			first := mustCreate(s, newPolicy("web", "openssl"))
			_, err := s.Create(store.PatchPolicies, newPolicy("web", "curl"))
			Expect(apierrors.IsAlreadyExists(err)).To(BeTrue(), "%v", err)
			Expect(mustGet(s, "web")).To(Equal(first))
			Expect(s.ResourceVersion()).To(BeEquivalentTo(1))
		})

		It("keeps objects of different resources apart", func() {
			mustCreate(s, newPolicy("web"))
			_, err := s.Create(store.Hosts, &v1.Host{ObjectMeta: metav1.ObjectMeta{Name: "web"}})
			Expect(err).NotTo(HaveOccurred())
			h, err := s.Get(store.Hosts, "web")
			Expect(err).NotTo(HaveOccurred())
			Expect(h).To(BeAssignableToTypeOf(&v1.Host{}))
		})

		DescribeTable("refuses a name that is not a plain file name, writing nothing",
			func(name string) {
				_, err := s.Create(store.PatchPolicies, newPolicy(name))
				Expect(apierrors.IsBadRequest(err)).To(BeTrue(), "%v", err)
				ents, err := os.ReadDir(filepath.Join(dir, "objects", "patchpolicies"))
				Expect(err).NotTo(HaveOccurred())
				Expect(ents).To(BeEmpty())
				Expect(s.ResourceVersion()).To(BeZero())
			},
			Entry("empty", ""),
			Entry("dot", "."),
			Entry("dot dot", ".."),
			Entry("a path", "../../etc/cron.d/x"),
			Entry("a slash", "a/b"),
			Entry("a NUL", "a\x00b"),
			Entry("a hidden name", ".web"),
			Entry("a temporary-file name", ".tmp-web"),
		)
	})

	Describe("Get and List", func() {
		It("returns NotFound for a missing object or an unknown resource", func() {
			_, err := s.Get(store.PatchPolicies, "nope")
			Expect(apierrors.IsNotFound(err)).To(BeTrue())
			_, err = s.GetJSON(store.PatchPolicies, "nope")
			Expect(apierrors.IsNotFound(err)).To(BeTrue())
			_, err = s.Get("pods", "x")
			Expect(apierrors.IsNotFound(err)).To(BeTrue())
			_, _, err = s.List("pods")
			Expect(apierrors.IsNotFound(err)).To(BeTrue())
		})

		It("returns a copy that the caller may change", func() {
			mustCreate(s, newPolicy("web", "openssl"))
			got := mustGet(s, "web")
			got.Spec.Packages[0].Name = "changed"
			got.Labels = map[string]string{"x": "y"}
			Expect(mustGet(s, "web").Spec.Packages[0].Name).To(Equal("openssl"))
			Expect(mustGet(s, "web").Labels).To(BeEmpty())
		})

		It("lists by name with the current resourceVersion", func() {
			for _, n := range []string{"c", "a", "b"} {
				mustCreate(s, newPolicy(n))
			}
			_, err := s.Create(store.Hosts, &v1.Host{ObjectMeta: metav1.ObjectMeta{Name: "h"}})
			Expect(err).NotTo(HaveOccurred())
			items, rv, err := s.List(store.PatchPolicies)
			Expect(err).NotTo(HaveOccurred())
			Expect(rv).To(BeEquivalentTo(4))
			var names []string
			for _, it := range items {
				names = append(names, it.Object.GetName())
				Expect(it.JSON).To(MatchJSON(mustJSON(it.Object)))
			}
			Expect(names).To(Equal([]string{"a", "b", "c"}))
		})
	})

	Describe("Update", func() {
		It("bumps generation and resourceVersion on a spec change and keeps status and system metadata", func() {
			created := mustCreate(s, newPolicy("web", "openssl"))
			withStatus := created.DeepCopy()
			withStatus.Status.ObservedGeneration = 1
			withStatus.Status.Pending = 3
			st, err := s.UpdateStatus(store.PatchPolicies, withStatus)
			Expect(err).NotTo(HaveOccurred())

			next := st.(*v1.PatchPolicy).DeepCopy()
			next.Spec.Packages = append(next.Spec.Packages, v1.PackageSpec{Name: "curl", State: v1.PackageLatest})
			next.Status = v1.PatchPolicyStatus{Pending: 99} // ignored: status belongs to the status subresource
			next.UID = "forged"
			next.CreationTimestamp = metav1.NewTime(epoch.Add(-time.Hour))
			next.Generation = 42
			upd, err := s.Update(store.PatchPolicies, next)
			Expect(err).NotTo(HaveOccurred())
			got := upd.(*v1.PatchPolicy)
			Expect(got.Generation).To(BeEquivalentTo(2))
			Expect(rvOf(got)).To(BeNumerically(">", rvOf(st)))
			Expect(got.Spec.Packages).To(HaveLen(2))
			Expect(got.Status.Pending).To(BeEquivalentTo(3))
			Expect(got.Status.ObservedGeneration).To(BeEquivalentTo(1))
			Expect(got.UID).To(Equal(created.UID))
			Expect(got.CreationTimestamp.Time).To(BeTemporally("==", created.CreationTimestamp.Time))
			Expect(mustGet(s, "web")).To(Equal(got))
		})

		It("keeps the generation when only metadata changes", func() {
			created := mustCreate(s, newPolicy("web", "openssl"))
			next := created.DeepCopy()
			next.Labels = map[string]string{"tier": "web"}
			next.Annotations = map[string]string{"note": "x"}
			upd, err := s.Update(store.PatchPolicies, next)
			Expect(err).NotTo(HaveOccurred())
			Expect(upd.GetGeneration()).To(BeEquivalentTo(1))
			Expect(rvOf(upd)).To(BeNumerically(">", rvOf(created)))
			Expect(upd.GetLabels()).To(Equal(map[string]string{"tier": "web"}))
		})

		It("writes nothing and keeps the resourceVersion when nothing changes", func() {
			created := mustCreate(s, newPolicy("web", "openssl"))
			before := fileOf(dir, store.PatchPolicies, "web")
			for _, mutate := range []func(p *v1.PatchPolicy){
				func(p *v1.PatchPolicy) {},
				func(p *v1.PatchPolicy) { p.ResourceVersion = "" },
				func(p *v1.PatchPolicy) { p.Status.Pending = 5 }, // status via Update is ignored
				func(p *v1.PatchPolicy) { p.Generation = 9 },
			} {
				p := created.DeepCopy()
				mutate(p)
				upd, err := s.Update(store.PatchPolicies, p)
				Expect(err).NotTo(HaveOccurred())
				Expect(upd).To(Equal(created))
			}
			st, err := s.UpdateStatus(store.PatchPolicies, created.DeepCopy())
			Expect(err).NotTo(HaveOccurred())
			Expect(st).To(Equal(created))
			Expect(s.ResourceVersion()).To(Equal(rvOf(created)))
			after := fileOf(dir, store.PatchPolicies, "web")
			Expect(os.SameFile(before, after)).To(BeTrue(), "the file was rewritten")
			Expect(after.ModTime()).To(Equal(before.ModTime()))
		})

		It("answers 409 Conflict to a stale resourceVersion and changes nothing", func() {
			created := mustCreate(s, newPolicy("web", "openssl"))
			fresh := created.DeepCopy()
			fresh.Spec.Mode = v1.ModeAudit
			_, err := s.Update(store.PatchPolicies, fresh)
			Expect(err).NotTo(HaveOccurred())
			current := mustGet(s, "web")

			stale := created.DeepCopy()
			stale.Spec.Suspend = true
			_, err = s.Update(store.PatchPolicies, stale)
			Expect(apierrors.IsConflict(err)).To(BeTrue(), "%v", err)
			_, err = s.UpdateStatus(store.PatchPolicies, stale)
			Expect(apierrors.IsConflict(err)).To(BeTrue(), "%v", err)
			_, err = s.Delete(store.PatchPolicies, "web", created.ResourceVersion)
			Expect(apierrors.IsConflict(err)).To(BeTrue(), "%v", err)
			Expect(mustGet(s, "web")).To(Equal(current))
		})

		It("accepts an update without a resourceVersion unconditionally", func() {
			mustCreate(s, newPolicy("web", "openssl"))
			blind := newPolicy("web", "curl")
			upd, err := s.Update(store.PatchPolicies, blind)
			Expect(err).NotTo(HaveOccurred())
			Expect(upd.(*v1.PatchPolicy).Spec.Packages[0].Name).To(Equal("curl"))
		})

		It("answers NotFound for a missing object", func() {
			_, err := s.Update(store.PatchPolicies, newPolicy("ghost"))
			Expect(apierrors.IsNotFound(err)).To(BeTrue())
			_, err = s.UpdateStatus(store.PatchPolicies, newPolicy("ghost"))
			Expect(apierrors.IsNotFound(err)).To(BeTrue())
		})

		It("bumps the generation of an Operation on a spec change", func() {
			op := &v1.Operation{ObjectMeta: metav1.ObjectMeta{Name: "op-1"}, Spec: v1.OperationSpec{Step: v1.StepRefresh, Argv: []string{"apt-get", "update"}}}
			c, err := s.Create(store.Operations, op)
			Expect(err).NotTo(HaveOccurred())
			next := c.(*v1.Operation).DeepCopy()
			next.Spec.Argv = append(next.Spec.Argv, "-q")
			u, err := s.Update(store.Operations, next)
			Expect(err).NotTo(HaveOccurred())
			Expect(u.GetGeneration()).To(BeEquivalentTo(2))
		})
	})

	Describe("UpdateStatus", func() {
		It("changes status only and keeps spec, metadata and generation", func() {
			created := mustCreate(s, newPolicy("web", "openssl"))
			p := created.DeepCopy()
			p.Spec.Packages = nil
			p.Labels = map[string]string{"sneaky": "yes"}
			p.Status.Pending = 2
			p.Status.Conditions = []metav1.Condition{{Type: v1.ConditionReady, Status: metav1.ConditionFalse, Reason: "Pending",
				LastTransitionTime: metav1.NewTime(epoch.Truncate(time.Second)), ObservedGeneration: 1}}
			u, err := s.UpdateStatus(store.PatchPolicies, p)
			Expect(err).NotTo(HaveOccurred())
			got := u.(*v1.PatchPolicy)
			Expect(got.Status.Pending).To(BeEquivalentTo(2))
			Expect(got.Status.Conditions).To(HaveLen(1))
			Expect(got.Spec).To(Equal(created.Spec))
			Expect(got.Labels).To(BeEmpty())
			Expect(got.Generation).To(BeEquivalentTo(1))
			Expect(got.UID).To(Equal(created.UID))
			Expect(rvOf(got)).To(BeNumerically(">", rvOf(created)))
		})

		It("updates a Host's status and, through Update, its labels", func() {
			h, err := s.Create(store.Hosts, &v1.Host{ObjectMeta: metav1.ObjectMeta{Name: "web-1"}})
			Expect(err).NotTo(HaveOccurred())
			hs := h.(*v1.Host).DeepCopy()
			hs.Status.RebootRequired.Required = true
			hs.Labels = map[string]string{"ignored": "yes"}
			u, err := s.UpdateStatus(store.Hosts, hs)
			Expect(err).NotTo(HaveOccurred())
			Expect(u.(*v1.Host).Status.RebootRequired.Required).To(BeTrue())
			Expect(u.GetLabels()).To(BeEmpty())
			hl := u.(*v1.Host).DeepCopy()
			hl.Labels = map[string]string{"role": "web"}
			hl.Status = v1.HostStatus{}
			u2, err := s.Update(store.Hosts, hl)
			Expect(err).NotTo(HaveOccurred())
			Expect(u2.GetLabels()).To(Equal(map[string]string{"role": "web"}))
			Expect(u2.(*v1.Host).Status.RebootRequired.Required).To(BeTrue())
			Expect(u2.GetGeneration()).To(BeEquivalentTo(1))
		})
	})

	Describe("Delete", func() {
		It("removes the object and its file and hands out a new resourceVersion", func() {
			created := mustCreate(s, newPolicy("web", "openssl"))
			gone, err := s.Delete(store.PatchPolicies, "web", created.ResourceVersion)
			Expect(err).NotTo(HaveOccurred())
			Expect(gone.GetName()).To(Equal("web"))
			Expect(rvOf(gone)).To(BeNumerically(">", rvOf(created)))
			Expect(s.ResourceVersion()).To(Equal(rvOf(gone)))
			_, err = s.Get(store.PatchPolicies, "web")
			Expect(apierrors.IsNotFound(err)).To(BeTrue())
			Expect(filepath.Join(dir, "objects", "patchpolicies", "web.json")).NotTo(BeAnExistingFile())
			_, err = s.Delete(store.PatchPolicies, "web", "")
			Expect(apierrors.IsNotFound(err)).To(BeTrue())
		})

		It("lets a name be created again after a delete, with a new uid", func() {
			first := mustCreate(s, newPolicy("web"))
			_, err := s.Delete(store.PatchPolicies, "web", "")
			Expect(err).NotTo(HaveOccurred())
			second := mustCreate(s, newPolicy("web"))
			Expect(second.UID).NotTo(Equal(first.UID))
			Expect(rvOf(second)).To(BeNumerically(">", rvOf(first)+1))
			Expect(second.Generation).To(BeEquivalentTo(1))
		})
	})

	Describe("reopening", func() {
		It("loads every object as it was and continues the resourceVersion", func() {
			a := mustCreate(s, newPolicy("a", "openssl"))
			b := mustCreate(s, newPolicy("b", "curl"))
			_, err := s.Create(store.Hosts, &v1.Host{ObjectMeta: metav1.ObjectMeta{Name: "h"}})
			Expect(err).NotTo(HaveOccurred())
			rv := s.ResourceVersion()
			aj, _ := s.GetJSON(store.PatchPolicies, "a")

			s2 := openStore(dir)
			Expect(s2.ResourceVersion()).To(Equal(rv))
			Expect(mustGet(s2, "a").Spec).To(Equal(a.Spec))
			Expect(mustGet(s2, "b").UID).To(Equal(b.UID))
			aj2, _ := s2.GetJSON(store.PatchPolicies, "a")
			Expect(aj2).To(MatchJSON(aj))
			c := mustCreate(s2, newPolicy("c"))
			Expect(rvOf(c)).To(BeNumerically(">", rv))
		})

		It("never hands out a resourceVersion again after the newest object was deleted", func() {
			mustCreate(s, newPolicy("a"))
			b := mustCreate(s, newPolicy("b"))
			gone, err := s.Delete(store.PatchPolicies, "b", "")
			Expect(err).NotTo(HaveOccurred())
			Expect(rvOf(gone)).To(BeNumerically(">", rvOf(b)))

			s2 := openStore(dir)
			Expect(s2.ResourceVersion()).To(Equal(rvOf(gone)))
			c := mustCreate(s2, newPolicy("c"))
			Expect(rvOf(c)).To(BeNumerically(">", rvOf(gone)))

			// Delete everything, reopen again: still increasing.
			for _, n := range []string{"a", "c"} {
				_, err := s2.Delete(store.PatchPolicies, n, "")
				Expect(err).NotTo(HaveOccurred())
			}
			last := s2.ResourceVersion()
			s3 := openStore(dir)
			Expect(s3.ResourceVersion()).To(Equal(last))
			Expect(rvOf(mustCreate(s3, newPolicy("d")))).To(Equal(last + 1))
		})

		It("removes temporary files of interrupted writes and keeps the old content", func() {
			mustCreate(s, newPolicy("web", "openssl"))
			d := filepath.Join(dir, "objects", "patchpolicies")
			Expect(os.WriteFile(filepath.Join(d, ".tmp-web.json-123"), []byte(`{"torn`), 0o600)).To(Succeed())
			Expect(os.WriteFile(filepath.Join(dir, ".tmp-resourceversion-456"), []byte("99"), 0o600)).To(Succeed())
			s2 := openStore(dir)
			Expect(mustGet(s2, "web").Spec.Packages[0].Name).To(Equal("openssl"))
			Expect(s2.ResourceVersion()).To(BeEquivalentTo(1))
			Expect(tempFiles(dir)).To(BeEmpty())
		})

		It("sets an unreadable file aside instead of failing or losing it", func() {
			mustCreate(s, newPolicy("good"))
			bad := filepath.Join(dir, "objects", "patchpolicies", "bad.json")
			Expect(os.WriteFile(bad, []byte("{not json"), 0o600)).To(Succeed())
			s2 := openStore(dir)
			items, _, err := s2.List(store.PatchPolicies)
			Expect(err).NotTo(HaveOccurred())
			Expect(items).To(HaveLen(1))
			Expect(bad + ".corrupt").To(BeAnExistingFile())
		})

		It("fails on a damaged resourceversion file rather than reusing versions", func() {
			Expect(os.WriteFile(filepath.Join(dir, "resourceversion"), []byte("garbage"), 0o600)).To(Succeed())
			_, err := store.Open(dir, store.Options{})
			Expect(err).To(MatchError(ContainSubstring("resourceversion")))
		})
	})
})

func mustJSON(o any) []byte {
	GinkgoHelper()
	b, err := json.Marshal(o)
	Expect(err).NotTo(HaveOccurred())
	return b
}

// tempFiles lists the ".tmp-" files anywhere under dir.
func tempFiles(dir string) []string {
	GinkgoHelper()
	var out []string
	Expect(filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if len(d.Name()) > 5 && d.Name()[:5] == ".tmp-" {
			out = append(out, p)
		}
		return nil
	})).To(Succeed())
	return out
}
