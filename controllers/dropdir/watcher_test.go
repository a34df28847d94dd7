package dropdir_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/patchlet/patchlet/api/v1alpha1"
	"github.com/patchlet/patchlet/controllers/dropdir"
	"github.com/patchlet/patchlet/store"
)

var _ = Describe("Watcher", func() {
	var e *env

	When("files are dropped, edited and removed", func() {
		BeforeEach(func() { e = newStartedEnv() })

		It("creates the file's policy as written (defaults apply where it is enforced), annotated with the file's path", func() {
			e.write("web.yaml", policy("web", "openssl"))
			Eventually(e.packages("web")).Should(Equal("openssl"))
			p := e.get("web")
			Expect(p.Annotations).To(HaveKeyWithValue(v1alpha1.AnnotationSourceFile, e.path("web.yaml")))
			Expect(filepath.IsAbs(p.Annotations[v1alpha1.AnnotationSourceFile])).To(BeTrue())
			Expect(p.Spec.Mode).To(BeEmpty(), "stored as written, not defaulted")
			Expect(p.Spec.Packages[0].State).To(BeEmpty())
			Expect(p.Generation).To(BeEquivalentTo(1))
			Expect(e.w.Problems()).To(BeEmpty())
			Expect(e.w.Ready()).To(Succeed())
		})

		It("reads .yml and .json files too", func() {
			e.write("a.yml", policy("from-yml", "curl"))
			e.write("b.json", `{"apiVersion":"patchlet.io/v1alpha1","kind":"PatchPolicy","metadata":{"name":"from-json"},"spec":{"packages":[{"name":"wget"}]}}`)
			Eventually(e.packages("from-yml")).Should(Equal("curl"))
			Eventually(e.packages("from-json")).Should(Equal("wget"))
		})

		It("updates on edit: generation bumps on spec change only, status is kept", func() {
			e.write("web.yaml", policy("web", "openssl"))
			Eventually(e.packages("web")).Should(Equal("openssl"))

			p := e.get("web")
			p.Status.ObservedGeneration = 1
			p.Status.Conditions = []metav1.Condition{{Type: v1alpha1.ConditionReady, Status: metav1.ConditionTrue, Reason: "Compliant", LastTransitionTime: metav1.Now()}}
			_, err := e.st.UpdateStatus(store.PatchPolicies, p)
			Expect(err).NotTo(HaveOccurred())

			e.write("web.yaml", policy("web", "openssl", "curl"))
			Eventually(e.packages("web")).Should(Equal("openssl,curl"))
			p = e.get("web")
			Expect(p.Generation).To(BeEquivalentTo(2))
			Expect(p.Status.ObservedGeneration).To(BeEquivalentTo(1))
			Expect(p.Status.Conditions).To(HaveLen(1))
			rv := p.ResourceVersion

			// A label-only change: stored, but the generation stays.
			e.write("web.yaml", strings.Replace(policy("web", "openssl", "curl"), "  name: web\n", "  name: web\n  labels: {team: web}\n", 1))
			Eventually(func() map[string]string { return e.get("web").Labels }).Should(HaveKeyWithValue("team", "web"))
			p = e.get("web")
			Expect(p.ResourceVersion).NotTo(Equal(rv))
			Expect(p.Generation).To(BeEquivalentTo(2))
			Expect(p.Status.Conditions).To(HaveLen(1))
		})

		It("follows an atomic write (temporary file renamed over)", func() {
			e.writeAtomic("web.yaml", policy("web", "openssl"))
			Eventually(e.packages("web")).Should(Equal("openssl"))
			e.writeAtomic("web.yaml", policy("web", "nginx"))
			Eventually(e.packages("web")).Should(Equal("nginx"))
			Expect(e.get("web").Generation).To(BeEquivalentTo(2))
		})

		It("deletes the policies of a removed file, and only those", func() {
			e.write("a.yaml", policy("a", "curl"))
			e.write("b.yaml", policy("b", "wget"))
			Eventually(e.names).Should(Equal([]string{"a", "b"}))
			e.remove("a.yaml")
			Eventually(e.names).Should(Equal([]string{"b"}))
		})

		It("converges multi-document files, document by document", func() {
			e.write("all.yaml", docs(policy("one", "curl"), policy("two", "wget"), policy("three", "jq")))
			Eventually(e.names).Should(Equal([]string{"one", "three", "two"}))
			for _, n := range []string{"one", "two", "three"} {
				Expect(e.source(n)()).To(Equal(e.path("all.yaml")))
			}
			e.write("all.yaml", docs(policy("one", "curl", "git"), policy("three", "jq")))
			Eventually(e.names).Should(Equal([]string{"one", "three"}))
			Eventually(e.packages("one")).Should(Equal("curl,git"))
		})

		It("keeps the old version of a half-written file, then converges to the completed one", func() {
			full := policy("web", "openssl") + "  updates: {apply: Security, exclude: [\"linux-image-*\", \"firmware-*\"]}\n"
			e.write("web.yaml", full)
			Eventually(e.packages("web")).Should(Equal("openssl"))
			rv := e.get("web").ResourceVersion

			next := policy("web", "openssl", "curl") + "  updates: {apply: All, exclude: [\"linux-image-*\", \"firmware-*\"]}\n"
			cut := len(next) - 14 // inside the flow sequence: not YAML
			e.write("web.yaml", next[:cut])
			Eventually(e.problems).Should(ConsistOf(HavePrefix(e.path("web.yaml") + ": ")))
			Consistently(func() string { return e.get("web").ResourceVersion }).Should(Equal(rv))
			Expect(e.get("web").Spec.Updates.Apply).To(Equal(v1alpha1.UpdatesSecurity))
			Expect(e.w.Ready()).To(MatchError(ContainSubstring(e.path("web.yaml"))))

			// Emptied (a shell's "> file" truncates before writing): still kept.
			e.write("web.yaml", "")
			Eventually(e.problems).Should(ConsistOf(ContainSubstring("file is empty")))
			Expect(e.get("web").ResourceVersion).To(Equal(rv))

			e.write("web.yaml", next)
			Eventually(e.packages("web")).Should(Equal("openssl,curl"))
			Expect(e.get("web").Spec.Updates.Apply).To(Equal(v1alpha1.UpdatesAll))
			Eventually(e.problems).Should(BeEmpty())
			Expect(e.w.Ready()).To(Succeed())
		})

		It("sees a quick rewrite of the same size (file times are coarse)", func() {
			e.write("web.yaml", policy("web", "aaaa"))
			Eventually(e.packages("web")).Should(Equal("aaaa"))
			e.write("web.yaml", policy("web", "bbbb"))
			Eventually(e.packages("web")).Should(Equal("bbbb"))
			e.write("web.yaml", policy("web", "cccc"))
			Eventually(e.packages("web")).Should(Equal("cccc"))
		})

		It("removes a broken file's policies once the file itself is removed", func() {
			e.write("web.yaml", policy("web", "openssl"))
			Eventually(e.packages("web")).Should(Equal("openssl"))
			e.write("web.yaml", "kind: PatchPolicy\nmetadata: {name: web\n")
			Eventually(e.w.Problems).Should(HaveLen(1))
			Expect(e.packages("web")()).To(Equal("openssl"))
			e.remove("web.yaml")
			Eventually(e.names).Should(BeEmpty())
			Eventually(e.w.Problems).Should(BeEmpty())
		})

		It("treats a dangling symlink as a problem and keeps what it defined", func() {
			target := filepath.Join(e.root, "web-policy.yaml")
			Expect(os.WriteFile(target, []byte(policy("web", "openssl")), 0o644)).To(Succeed())
			Expect(os.Symlink(target, e.path("web.yaml"))).To(Succeed())
			Eventually(e.packages("web")).Should(Equal("openssl"))
			Expect(e.source("web")()).To(Equal(e.path("web.yaml")))
			Expect(os.Remove(target)).To(Succeed())
			e.write("other.yaml", policy("other", "curl")) // an event in the directory
			Eventually(e.problems).Should(ConsistOf(And(HavePrefix(e.path("web.yaml")), ContainSubstring("dangling symlink"))))
			Expect(e.packages("web")()).To(Equal("openssl"))
		})

		It("ignores dotfiles, editor temporary files, other extensions and sub-directories", func() {
			for _, n := range []string{".hidden.yaml", "web.yaml~", ".web.yaml.swp", ".web.yaml.swx", "#web.yaml#",
				".#web.yaml", "web.tmp", "web.yaml.tmp", "4913", "README.md", "web.yaml.bak"} {
				e.write(n, policy("ignored", "curl"))
			}
			Expect(os.MkdirAll(e.path("sub.yaml"), 0o755)).To(Succeed())
			Expect(os.WriteFile(filepath.Join(e.dir, "sub.yaml", "x.yaml"), []byte(policy("ignored", "curl")), 0o644)).To(Succeed())
			e.write("real.yaml", policy("real", "curl")) // written last: once it is in, the others were seen
			Eventually(e.names).Should(Equal([]string{"real"}))
			Consistently(e.names).Should(Equal([]string{"real"}))
			Expect(e.w.Problems()).To(BeEmpty())
		})

		It("refuses Hosts and Operations from files", func() {
			e.write("host.yaml", "apiVersion: patchlet.io/v1alpha1\nkind: Host\nmetadata: {name: web-1}\n")
			Eventually(e.problems).Should(ConsistOf(And(HavePrefix(e.path("host.yaml")), ContainSubstring("kind Host"), ContainSubstring("only PatchPolicy"))))
			items, _, err := e.st.List(store.Hosts)
			Expect(err).NotTo(HaveOccurred())
			Expect(items).To(BeEmpty())
		})

		It("writes nothing when a rescan finds nothing changed", func() {
			e.write("a.yaml", docs(policy("a", "curl"), policy("b", "wget")))
			e.write("c.yaml", policy("c", "jq")+"  updates: {apply: Security}\n  cache: {maxAge: 2h}\n")
			Eventually(e.names).Should(Equal([]string{"a", "b", "c"}))
			rv := e.st.ResourceVersion()
			Expect(e.w.Sync()).To(Succeed())
			Expect(e.w.Sync()).To(Succeed())
			Expect(e.st.ResourceVersion()).To(Equal(rv))
			// Rewriting the same content (events, a rescan) writes nothing either.
			e.writeAtomic("a.yaml", docs(policy("a", "curl"), policy("b", "wget")))
			now := time.Now()
			Expect(os.Chtimes(e.path("c.yaml"), now, now)).To(Succeed())
			Consistently(e.st.ResourceVersion).Should(Equal(rv))
		})

		It("rescans a burst of events once (debounced), not once per event", func() {
			const rescanned = `"msg"="rescanned policy directory"`
			Eventually(func() int { return e.logs.count(rescanned) }).Should(Equal(1)) // the initial sync
			for i := range 20 {
				name := fmt.Sprintf("burst-%02d", i)
				e.writeAtomic(name+".yaml", policy(name, "curl"))
			}
			Eventually(func() int { return len(e.names()) }).Should(Equal(20))
			Consistently(func() int { return e.logs.count(rescanned) }).Should(BeNumerically("<=", 3))
		})

		It("logs a problem once per change, not on every rescan", func() {
			const logged = `"msg"="policy file has a problem"`
			e.write("bad.yaml", policy("bad", "curl")+"  colour: blue\n")
			Eventually(func() int { return e.logs.count(logged, "bad.yaml") }).Should(Equal(1))
			since := e.w.Problems()[0].Since
			Expect(e.w.Sync()).To(Succeed())
			Expect(e.w.Sync()).To(Succeed())
			Expect(e.logs.count(logged, "bad.yaml")).To(Equal(1))
			Expect(e.w.Problems()[0].Since).To(Equal(since))

			e.write("bad.yaml", policy("bad", "curl")+"  flavour: mint\n")
			Eventually(func() int { return e.logs.count(logged, "bad.yaml") }).Should(Equal(2))
			Expect(e.logs.count(logged, "spec.flavour")).To(Equal(1))

			e.write("bad.yaml", policy("bad", "curl"))
			Eventually(func() int { return e.logs.count(`"msg"="policy file problem resolved"`, "bad.yaml") }).Should(Equal(1))
			Expect(e.w.Ready()).To(Succeed())
		})
	})

	DescribeTable("a bad file beside good ones: good ones apply, the problem names the bad file and the field",
		func(content string, want ...string) {
			e = newStartedEnv()
			e.write("a-good.yaml", policy("good-a", "curl"))
			e.write("c-good.yaml", policy("good-c", "wget"))
			e.write("b-bad.yaml", content)
			Eventually(e.names).Should(Equal([]string{"good-a", "good-c"}))
			Eventually(e.w.Problems).Should(HaveLen(1))
			p := e.w.Problems()[0]
			Expect(p.File).To(Equal(e.path("b-bad.yaml")))
			for _, w := range want {
				Expect(p.Error).To(ContainSubstring(w))
			}
			Expect(e.w.Ready()).To(MatchError(And(ContainSubstring(e.path("b-bad.yaml")), ContainSubstring(want[0]))))
			Consistently(e.names).Should(Equal([]string{"good-a", "good-c"}))
		},
		Entry("unknown field", policy("bad", "curl")+"  pakages: []\n", "spec.pakages", "unknown field"),
		Entry("duplicate key", policy("bad", "curl")+"  mode: Audit\n  mode: Enforce\n", "mode", "already set"),
		Entry("invalid value", policy("bad")+"  packages:\n  - {name: curl, state: Sometimes}\n", "spec.packages[0].state", "Sometimes"),
		Entry("missing name", "apiVersion: patchlet.io/v1alpha1\nkind: PatchPolicy\nspec: {}\n", "metadata.name"),
		Entry("wrong apiVersion", "apiVersion: patchlet.io/v9\nkind: PatchPolicy\nmetadata: {name: bad}\n", "apiVersion"),
		Entry("not YAML", "apiVersion: [unclosed\n", "document 1"),
		Entry("second document bad", docs(policy("bad-1", "curl"), policy("bad-2")+"  reboot: {policy: Always}\n"), "document 2", "spec.reboot.policy"),
	)

	When("the drop directory is (or contains) git-sync style symlinks", func() {
		It("follows a swap of the ..data symlink inside the directory", func() {
			e = newStartedEnv()
			rev := func(name string, content string) {
				Expect(os.Mkdir(e.path(name), 0o755)).To(Succeed())
				Expect(os.WriteFile(filepath.Join(e.dir, name, "policies.yaml"), []byte(content), 0o644)).To(Succeed())
			}
			swap := func(to string) {
				Expect(os.Symlink(to, e.path("..data_tmp"))).To(Succeed())
				Expect(os.Rename(e.path("..data_tmp"), e.path("..data"))).To(Succeed())
			}
			rev("..rev1", docs(policy("web", "openssl"), policy("db", "postgresql")))
			swap("..rev1")
			Expect(os.Symlink("..data/policies.yaml", e.path("policies.yaml"))).To(Succeed())
			Eventually(e.names).Should(Equal([]string{"db", "web"}))
			Expect(e.source("web")()).To(Equal(e.path("policies.yaml")))

			rev("..rev2", policy("web", "openssl", "curl"))
			swap("..rev2")
			Expect(os.RemoveAll(e.path("..rev1"))).To(Succeed())
			Eventually(e.names).Should(Equal([]string{"web"}))
			Eventually(e.packages("web")).Should(Equal("openssl,curl"))
			Expect(e.source("web")()).To(Equal(e.path("policies.yaml")))
			Expect(e.w.Problems()).To(BeEmpty())
		})

		It("follows a swap of the directory itself when it is a symlink", func() {
			e = newEnv("policies.d")
			rev := func(name string, files map[string]string) {
				d := filepath.Join(e.root, name)
				Expect(os.Mkdir(d, 0o755)).To(Succeed())
				for f, c := range files {
					Expect(os.WriteFile(filepath.Join(d, f), []byte(c), 0o644)).To(Succeed())
				}
			}
			swap := func(to string) {
				tmp := filepath.Join(e.root, "link.tmp")
				Expect(os.Symlink(to, tmp)).To(Succeed())
				Expect(os.Rename(tmp, e.dir)).To(Succeed())
			}
			rev("rev1", map[string]string{"a.yaml": policy("a", "curl")})
			swap("rev1")
			e.start()
			Eventually(e.names).Should(Equal([]string{"a"}))
			Expect(e.source("a")()).To(Equal(e.path("a.yaml")))

			rev("rev2", map[string]string{"a.yaml": policy("a", "curl", "jq"), "b.yaml": policy("b", "wget")})
			swap("rev2")
			Expect(os.RemoveAll(filepath.Join(e.root, "rev1"))).To(Succeed())
			Eventually(e.names).Should(Equal([]string{"a", "b"}))
			Eventually(e.packages("a")).Should(Equal("curl,jq")) // one Sync writes a and b one after the other

			// The new target is watched: a file written into it is seen.
			e.write("c.yaml", policy("c", "git"))
			Eventually(e.names).Should(Equal([]string{"a", "b", "c"}))

			// And a swap that keeps the old target around is seen too.
			rev("rev3", map[string]string{"b.yaml": policy("b", "wget")})
			swap("rev3")
			Eventually(e.names).Should(Equal([]string{"b"}))
			e.write("d.yaml", policy("d", "git"))
			Eventually(e.names).Should(Equal([]string{"b", "d"}))
		})
	})

	Describe("name collisions", func() {
		BeforeEach(func() { e = newStartedEnv() })

		It("(a) gives a name defined in two files to the first file in lexical order, whichever came first", func() {
			e.write("b.yaml", docs(policy("shared", "from-b"), policy("only-b", "curl")))
			Eventually(e.packages("shared")).Should(Equal("from-b"))

			e.write("a.yaml", policy("shared", "from-a"))
			Eventually(e.packages("shared")).Should(Equal("from-a"))
			Expect(e.source("shared")()).To(Equal(e.path("a.yaml")))
			Expect(e.packages("only-b")()).To(Equal("curl"))
			Eventually(e.w.Problems).Should(HaveLen(1))
			p := e.w.Problems()[0]
			Expect(p.File).To(Equal(e.path("b.yaml")))
			Expect(p.Error).To(And(ContainSubstring(`"shared"`), ContainSubstring(e.path("a.yaml")), ContainSubstring(e.path("b.yaml"))))

			// Once a.yaml is gone, b.yaml's definition takes over.
			e.remove("a.yaml")
			Eventually(e.packages("shared")).Should(Equal("from-b"))
			Expect(e.source("shared")()).To(Equal(e.path("b.yaml")))
			Eventually(e.w.Problems).Should(BeEmpty())
		})

		It("(a) uses the first of two definitions in one file", func() {
			e.write("a.yaml", docs(policy("twice", "first"), policy("twice", "second")))
			Eventually(e.packages("twice")).Should(Equal("first"))
			Eventually(e.problems).Should(ConsistOf(And(HavePrefix(e.path("a.yaml")), ContainSubstring("more than once"))))
		})

		It("(b) never overwrites an object created through the API", func() {
			api := &v1alpha1.PatchPolicy{}
			api.Name = "api-made"
			api.Spec.Packages = []v1alpha1.PackageSpec{{Name: "vim"}}
			created, err := e.st.Create(store.PatchPolicies, api)
			Expect(err).NotTo(HaveOccurred())

			e.write("f.yaml", docs(policy("api-made", "emacs"), policy("from-file", "nano")))
			Eventually(e.packages("from-file")).Should(Equal("nano"))
			Eventually(e.problems).Should(ConsistOf(And(HavePrefix(e.path("f.yaml")), ContainSubstring(dropdir.MessageAPIObject), ContainSubstring("api-made"))))
			got := e.get("api-made")
			Expect(got.ResourceVersion).To(Equal(created.GetResourceVersion()))
			Expect(got.Annotations).NotTo(HaveKey(v1alpha1.AnnotationSourceFile))
			Expect(e.packages("api-made")()).To(Equal("vim"))

			// Removing the file leaves the API object alone too.
			e.remove("f.yaml")
			Eventually(e.names).Should(Equal([]string{"api-made"}))
			Expect(e.get("api-made").ResourceVersion).To(Equal(created.GetResourceVersion()))
		})

		It("keeps a name with a broken file that defined it before", func() {
			e.write("a.yaml", policy("web", "from-a"))
			Eventually(e.packages("web")).Should(Equal("from-a"))
			e.write("a.yaml", policy("web", "from-a")+"  bogus: 1\n")
			e.write("b.yaml", policy("web", "from-b"))
			Eventually(e.w.Problems).Should(HaveLen(2))
			Consistently(e.packages("web")).Should(Equal("from-a"))
			Expect(e.source("web")()).To(Equal(e.path("a.yaml")))
		})
	})

	When("the drop directory is absent at start", func() {
		It("reports nothing wrong, and picks the directory up once it is created", func() {
			e = newEnv(filepath.Join("etc", "patchlet", "policies.d"))
			e.start()
			Expect(e.w.Ready()).To(Succeed())
			Expect(e.logs.count("policy directory does not exist")).To(Equal(1))

			Expect(os.MkdirAll(e.dir, 0o755)).To(Succeed())
			e.write("web.yaml", policy("web", "openssl"))
			Eventually(e.packages("web")).Should(Equal("openssl"))

			// Removing the whole directory removes its policies.
			Expect(os.RemoveAll(e.dir)).To(Succeed())
			Eventually(e.names).Should(BeEmpty())
			// And it is picked up again when it comes back.
			Expect(os.MkdirAll(e.dir, 0o755)).To(Succeed())
			e.write("db.yaml", policy("db", "postgresql"))
			Eventually(e.names).Should(Equal([]string{"db"}))
		})
	})

	When("rescans follow each other quickly", func() {
		It("sees a rewrite of the same size within one tick of the file clock", func() {
			e = newEnv("policies.d")
			Expect(os.MkdirAll(e.dir, 0o755)).To(Succeed())
			for i, pkg := range []string{"aaaa", "bbbb", "cccc", "dddd"} {
				e.write("web.yaml", policy("web", pkg)) // same size, same inode, no wait
				Expect(e.w.Sync()).To(Succeed())
				Expect(e.packages("web")()).To(Equal(pkg), "rewrite %d", i)
			}
		})
	})

	When("the drop directory path is not a directory", func() {
		It("reports a problem naming it and changes nothing", func() {
			e = newEnv("policies.d")
			p := &v1alpha1.PatchPolicy{}
			p.Name = "kept"
			p.Annotations = map[string]string{v1alpha1.AnnotationSourceFile: filepath.Join(e.dir, "kept.yaml")}
			_, err := e.st.Create(store.PatchPolicies, p)
			Expect(err).NotTo(HaveOccurred())
			Expect(os.WriteFile(e.dir, []byte("oops"), 0o644)).To(Succeed())
			e.start()
			Expect(e.problems()).To(ConsistOf(e.dir + ": not a directory"))
			Expect(e.w.Ready()).To(MatchError(ContainSubstring(e.dir)))
			Expect(e.names()).To(Equal([]string{"kept"}))
		})
	})

	When("the agent restarts", func() {
		It("deletes policies whose file went away meanwhile and keeps those of other directories and the API", func() {
			e = newEnv("policies.d")
			Expect(os.MkdirAll(e.dir, 0o755)).To(Succeed())
			for name, src := range map[string]string{
				"gone":  filepath.Join(e.dir, "gone.yaml"),
				"other": filepath.Join(e.root, "elsewhere", "x.yaml"),
				"api":   "",
			} {
				p := &v1alpha1.PatchPolicy{}
				p.Name = name
				if src != "" {
					p.Annotations = map[string]string{v1alpha1.AnnotationSourceFile: src}
				}
				_, err := e.st.Create(store.PatchPolicies, p)
				Expect(err).NotTo(HaveOccurred())
			}
			e.write("kept.yaml", policy("kept", "curl"))
			Expect(e.w.Ready()).To(MatchError(ContainSubstring("initial sync not done")))
			e.start()
			Eventually(e.names).Should(Equal([]string{"api", "kept", "other"}))
			Expect(e.w.Ready()).To(Succeed())
		})
	})

	It("makes every dropped file visible in the store", func() {
		e = newStartedEnv()
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		lat, err := measureDropLatency(ctx, e, 40)
		Expect(err).NotTo(HaveOccurred())
		GinkgoWriter.Printf("drop-to-store latency over %d drops: p50 %v, p99 %v\n", len(lat), percentile(lat, 50), percentile(lat, 99))
		// Speed is measured by BenchmarkDropLatency, not asserted here: a
		// timed assertion flakes on a loaded machine.
		Expect(lat).To(HaveLen(40))
	})
})
