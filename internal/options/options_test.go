package options_test

import (
	"os"
	"path/filepath"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/spf13/pflag"

	"github.com/patchlet/patchlet/internal/options"
)

func parse(args []string, config string) (*options.Options, error) {
	var o options.Options
	fs := pflag.NewFlagSet("patchlet", pflag.ContinueOnError)
	o.Bind(fs)
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if config != "" {
		if err := options.ApplyConfig(fs, "config.yaml", []byte(config)); err != nil {
			return nil, err
		}
	}
	return &o, o.Validate()
}

var _ = Describe("Options", func() {
	It("has safe defaults", func() {
		o, err := parse(nil, "")
		Expect(err).NotTo(HaveOccurred())
		Expect(o.Listen).To(Equal("unix:/run/patchlet/patchlet.sock"))
		Expect(o.StateDir).To(Equal("/var/lib/patchlet"))
		Expect(o.PolicyDir).To(Equal("/etc/patchlet/policies.d"))
		Expect(o.ChecksDir).To(Equal("/etc/patchlet/checks.d"))
		Expect(o.Root).To(Equal("/"))
		Expect(o.Backend).To(Equal("auto"))
		Expect(o.Insecure).To(BeFalse())
	})

	It("reads every flag from the config file, and flags win", func() {
		o, err := parse([]string{"--state-dir", "/flag"}, `
state-dir: /config
policy-dir: /pd
checks-dir: /srv/checks
host-labels: {role: web, env: prod}
insecure: true
listen: 127.0.0.1:8080
step-timeout: 10m
v: 2
allow-cidr: [10.0.0.0/8, 192.168.1.7]
`)
		Expect(err).NotTo(HaveOccurred())
		Expect(o.StateDir).To(Equal("/flag"))
		Expect(o.PolicyDir).To(Equal("/pd"))
		Expect(o.ChecksDir).To(Equal("/srv/checks"))
		Expect(o.HostLabels).To(Equal(map[string]string{"role": "web", "env": "prod"}))
		Expect(o.Insecure).To(BeTrue())
		Expect(o.Listen).To(Equal("127.0.0.1:8080"))
		Expect(o.StepTimeout).To(Equal(10 * time.Minute))
		Expect(o.Verbosity).To(Equal(2))
		Expect(o.AllowCIDR).To(Equal([]string{"10.0.0.0/8", "192.168.1.7"}))
	})

	DescribeTable("rejects bad configuration, naming the key or flag",
		func(args []string, config, want string) {
			_, err := parse(args, config)
			Expect(err).To(MatchError(ContainSubstring(want)))
		},
		Entry("unknown key", nil, "state-dri: /x\n", `unknown key "state-dri"`),
		Entry("duplicate key", nil, "root: /a\nroot: /b\n", `"root"`),
		Entry("config inside config", nil, "config: /x\n", `unknown key "config"`),
		Entry("bad value type", nil, "insecure: maybe\n", `key "insecure"`),
		Entry("not a mapping", nil, "- a\n- b\n", "mapping"),
		Entry("unknown backend", []string{"--backend", "brew"}, "", "--backend"),
		Entry("unknown executor", []string{"--executor", "cron"}, "", "--executor"),
		Entry("relative root", []string{"--root", "srv"}, "", "--root"),
		Entry("relative checks directory", []string{"--checks-dir", "checks.d"}, "", "--checks-dir"),
		Entry("empty checks directory in the config file", nil, "checks-dir: \"\"\n", "--checks-dir"),
		Entry("cert without key", []string{"--tls-cert", "/c"}, "", "--tls-key"),
		Entry("zero step timeout", []string{"--step-timeout", "0s"}, "", "--step-timeout"),
		Entry("bad log format", []string{"--log-format", "xml"}, "", "--log-format"),
		Entry("bad allow-cidr", []string{"--allow-cidr", "10.0.0.0/33"}, "", "--allow-cidr"),
		Entry("no audit files kept", []string{"--audit-keep", "0"}, "", "--audit-keep"),
		Entry("a fleet namespace that is not a DNS label", []string{"--fleet-namespace", "Patchlet_System"}, "", "--fleet-namespace"),
		Entry("a slot TTL below 3s", []string{"--fleet-slot-ttl", "2s"}, "", "--fleet-slot-ttl"),
		Entry("a slot TTL of fractional seconds", nil, "fleet-slot-ttl: 30.5s\n", "--fleet-slot-ttl"),
		Entry("a slot retry of 0", []string{"--fleet-slot-retry", "0s"}, "", "--fleet-slot-retry"),
	)

	It("takes the fleet timings from the config file", func() {
		fs := pflag.NewFlagSet("patchlet", pflag.ContinueOnError)
		var o options.Options
		o.Bind(fs)
		p := filepath.Join(GinkgoT().TempDir(), "config.yaml")
		Expect(os.WriteFile(p, []byte("fleet-namespace: ops\nfleet-slot-ttl: 2m\nfleet-slot-retry: 30s\n"), 0o600)).To(Succeed())
		Expect(options.LoadConfigFile(fs, p, true)).To(Succeed())
		Expect(o.Validate()).To(Succeed())
		Expect(o.FleetNamespace).To(Equal("ops"))
		Expect(o.FleetSlotTTL).To(Equal(2 * time.Minute))
		Expect(o.FleetSlotRetry).To(Equal(30 * time.Second))
	})

	It("accepts a missing default config file but not a missing explicit one", func() {
		fs := pflag.NewFlagSet("patchlet", pflag.ContinueOnError)
		var o options.Options
		o.Bind(fs)
		missing := filepath.Join(GinkgoT().TempDir(), "absent.yaml")
		Expect(options.LoadConfigFile(fs, missing, false)).To(Succeed())
		Expect(options.LoadConfigFile(fs, missing, true)).To(MatchError(ContainSubstring("absent.yaml")))
	})

	It("loads a real file", func() {
		p := filepath.Join(GinkgoT().TempDir(), "config.yaml")
		Expect(os.WriteFile(p, []byte("host-name: web-1\n"), 0o600)).To(Succeed())
		fs := pflag.NewFlagSet("patchlet", pflag.ContinueOnError)
		var o options.Options
		o.Bind(fs)
		Expect(options.LoadConfigFile(fs, p, true)).To(Succeed())
		Expect(o.HostName).To(Equal("web-1"))
	})
})

var _ = It("accepts the shipped example configuration", func() {
	fs := pflag.NewFlagSet("patchlet", pflag.ContinueOnError)
	var o options.Options
	o.Bind(fs)
	Expect(options.LoadConfigFile(fs, "../../config/config.yaml", true)).To(Succeed())
	Expect(o.Validate()).To(Succeed())
})
