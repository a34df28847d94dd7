// Package options owns the agent's settings: the command-line flags of
// patchlet, the same keys read from its configuration file (flags win), and
// their validation.
package options

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/spf13/pflag"
	"k8s.io/apimachinery/pkg/util/validation"
	"sigs.k8s.io/yaml"

	"github.com/patchlet/patchlet/backends"
	_ "github.com/patchlet/patchlet/backends/all" // registers every backend
)

// DefaultConfigFile is read when --config is not given; its absence is fine.
const DefaultConfigFile = "/etc/patchlet/config.yaml"

// DefaultChecksDir is the default of --checks-dir (the same as
// internal/healthcheck's).
const DefaultChecksDir = "/etc/patchlet/checks.d"

// Options are the agent's settings.
type Options struct {
	ConfigFile    string
	Listen        string
	TLSCert       string
	TLSKey        string
	ClientCA      string
	Insecure      bool
	StateDir      string
	PolicyDir     string
	ChecksDir     string
	Root          string
	Backend       string
	Executor      string
	HostName      string
	HostLabels    map[string]string
	RebootCommand string
	Kubeconfig    string
	Verbosity     int
	LogFormat     string
	StepTimeout   time.Duration
	ResyncPeriod  time.Duration
	AllowCIDR     []string
	WSOrigins     []string
	AuditDir      string
	AuditMaxSize  int64
	AuditKeep     int
	MaxWatches    int
	RateLimit     float64
	FleetLeader   bool
	// Fleet mode: namespace of the slot and leader Leases, slot TTL and retry.
	FleetNamespace string
	FleetSlotTTL   time.Duration
	FleetSlotRetry time.Duration
}

// InCluster as --kubeconfig uses the service account of the pod the agent
// runs in (a DaemonSet on Kubernetes nodes).
const InCluster = "in-cluster"

// Backends accepted by --backend: auto and every registered backend.
var Backends = append([]string{"auto"}, backends.Names()...)

// Executors accepted by --executor.
var Executors = []string{"auto", "systemd", "detached"}

// Bind registers the flags on fs with their defaults.
func (o *Options) Bind(fs *pflag.FlagSet) {
	fs.StringVar(&o.ConfigFile, "config", DefaultConfigFile, "configuration file holding any of these flags as keys (YAML); flags given on the command line win; a missing default file is fine")
	fs.StringVar(&o.Listen, "listen", "unix:/run/patchlet/patchlet.sock", "where the API listens: unix:PATH (socket mode 0600) or HOST:PORT (needs --tls-cert and --tls-key, or --insecure on a loopback address)")
	fs.StringVar(&o.TLSCert, "tls-cert", "", "PEM certificate for a TCP listener")
	fs.StringVar(&o.TLSKey, "tls-key", "", "PEM private key for a TCP listener")
	fs.StringVar(&o.ClientCA, "client-ca", "", "PEM CA bundle; when set, TCP clients must present a certificate it signed (mTLS)")
	fs.BoolVar(&o.Insecure, "insecure", false, "serve plain HTTP on TCP; refused for any non-loopback address")
	fs.StringVar(&o.StateDir, "state-dir", "/var/lib/patchlet", "directory for objects, step logs and the index refresh record")
	fs.StringVar(&o.PolicyDir, "policy-dir", "/etc/patchlet/policies.d", "directory of PatchPolicy YAML/JSON files to enforce (GitOps drop directory)")
	fs.StringVar(&o.ChecksDir, "checks-dir", DefaultChecksDir, "directory of the health check executables that policies name by file name (spec.healthCheck.exec.name; never a command line). "+
		"A check runs only if it is a regular file (not a symbolic link), executable, owned by root or the agent's user and not writable by group or others, in a directory not writable by group or others; "+
		"it runs on this host (also with --root) without arguments or a shell, in /, with only PATH, LC_ALL=C and PATCHLET_POLICY=<policy> set, and its process group is killed at the check's timeout; exit status 0 passes")
	fs.StringVar(&o.Root, "root", "/", "root directory of the system to manage (an image or a test root)")
	fs.StringVar(&o.Backend, "backend", "auto", "package manager: "+strings.Join(Backends, "|"))
	fs.StringVar(&o.Executor, "executor", "auto", "how steps run detached from the agent: "+strings.Join(Executors, "|")+" (auto: systemd when it is PID 1)")
	fs.StringVar(&o.HostName, "host-name", "", "name of this host's Host object (default: the hostname)")
	fs.StringToStringVar(&o.HostLabels, "host-labels", nil, "labels of this host, KEY=VALUE,... (matched by policies' hostSelector)")
	fs.StringVar(&o.RebootCommand, "reboot-command", "systemctl reboot", "command run to reboot, when a policy allows it")
	fs.StringVar(&o.Kubeconfig, "kubeconfig", "", "kubeconfig of a Kubernetes API server for fleet mode (or \""+InCluster+"\" for the pod's service account): the agent registers its Host there and enforces the cluster's PatchPolicies that select it")
	fs.IntVarP(&o.Verbosity, "v", "v", 0, "log verbosity (0 = info, 1 = detail, 2 = debug)")
	fs.StringVar(&o.LogFormat, "log-format", "auto", "log format: auto (console on a terminal, JSON otherwise), json, console")
	fs.DurationVar(&o.StepTimeout, "step-timeout", 30*time.Minute, "longest a package-manager step may run before it is killed")
	fs.StringVar(&o.FleetNamespace, "fleet-namespace", "patchlet-system", "fleet mode: namespace of the rollout slot Leases and the leader Lease (the namespace config/rbac grants Leases in)")
	fs.DurationVar(&o.FleetSlotTTL, "fleet-slot-ttl", 60*time.Second, "fleet mode: how long a rollout slot outlives a holder that stopped renewing it (whole seconds, at least 3s; renewed every third of it)")
	fs.DurationVar(&o.FleetSlotRetry, "fleet-slot-retry", 10*time.Second, "fleet mode: how long a host denied a rollout slot waits before asking again (jittered by up to 100%, and longer when many hosts wait per slot)")
	fs.BoolVar(&o.FleetLeader, "fleet-leader", false, "fleet mode: stand for election as the leader that writes every PatchPolicy's aggregate status (enable on two or three hosts, not on every host of a large fleet)")
	fs.StringArrayVar(&o.AllowCIDR, "allow-cidr", nil, "TCP clients may connect only from these networks (repeatable; comma-separated lists; a bare address is one host); others get 403. The unix socket is not affected")
	fs.StringArrayVar(&o.WSOrigins, "websocket-origin", nil, "origin (scheme://host[:port]) of web pages that may open a WebSocket watch besides the agent's own (repeatable); a browser's upgrade from any other origin is 403")
	fs.StringVar(&o.AuditDir, "audit-dir", "", "directory of the hash-chained audit log of API changes and steps (default STATE-DIR/audit); check it with patchctl audit verify")
	fs.Int64Var(&o.AuditMaxSize, "audit-max-size", 16<<20, "rotate the audit log after this many bytes")
	fs.IntVar(&o.AuditKeep, "audit-keep", 10, "rotated audit log files to keep")
	fs.IntVar(&o.MaxWatches, "max-watches", 100, "API watches served at once; 429 beyond (negative: unbounded)")
	fs.Float64Var(&o.RateLimit, "rate-limit", 50, "API requests per second per TCP client (certificate CN or source address); 429 beyond; negative: unlimited")
	fs.DurationVar(&o.ResyncPeriod, "resync-period", time.Hour, "how often every policy is re-checked when nothing else triggers it (jittered)")
}

// LoadConfigFile reads the configuration file named by --config and sets
// every key in it whose flag was not given on the command line. Unknown or
// duplicate keys are errors naming the key. explicit says whether --config
// was given (then a missing file is an error).
func LoadConfigFile(fs *pflag.FlagSet, path string, explicit bool) error {
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) && !explicit {
		return nil
	}
	if err != nil {
		return fmt.Errorf("reading config file: %w", err)
	}
	return ApplyConfig(fs, path, data)
}

// ApplyConfig applies the YAML configuration data (named path in errors).
func ApplyConfig(fs *pflag.FlagSet, path string, data []byte) error {
	j, err := yaml.YAMLToJSONStrict(data)
	if err != nil {
		return fmt.Errorf("config file %s: %w", path, err)
	}
	var m map[string]any
	if err := yaml.Unmarshal(j, &m); err != nil {
		return fmt.Errorf("config file %s: must be a mapping of flag names to values: %w", path, err)
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		f := fs.Lookup(k)
		if f == nil || k == "config" {
			return fmt.Errorf("config file %s: unknown key %q (keys are the flag names, e.g. listen, state-dir)", path, k)
		}
		if f.Changed {
			continue // the command line wins
		}
		if list, ok := m[k].([]any); ok {
			for _, item := range list {
				val, err := configValue(item)
				if err != nil {
					return fmt.Errorf("config file %s: key %q: %w", path, k, err)
				}
				if err := fs.Set(k, val); err != nil {
					return fmt.Errorf("config file %s: key %q: %w", path, k, err)
				}
			}
			continue
		}
		val, err := configValue(m[k])
		if err != nil {
			return fmt.Errorf("config file %s: key %q: %w", path, k, err)
		}
		if err := fs.Set(k, val); err != nil {
			return fmt.Errorf("config file %s: key %q: %w", path, k, err)
		}
	}
	return nil
}

func configValue(v any) (string, error) {
	switch t := v.(type) {
	case string:
		return t, nil
	case bool:
		return fmt.Sprint(t), nil
	case float64:
		return fmt.Sprint(t), nil
	case map[string]any:
		parts := make([]string, 0, len(t))
		for k, v := range t {
			s, ok := v.(string)
			if !ok {
				return "", fmt.Errorf("value of %q must be a string", k)
			}
			parts = append(parts, k+"="+s)
		}
		sort.Strings(parts)
		return strings.Join(parts, ","), nil
	case nil:
		return "", nil
	default:
		return "", fmt.Errorf("unsupported value %v", v)
	}
}

// Validate checks the settings, naming the flag of each problem.
func (o *Options) Validate() error {
	var errs []error
	if !contains(Backends, o.Backend) {
		errs = append(errs, fmt.Errorf("--backend %q: must be one of %s", o.Backend, strings.Join(Backends, ", ")))
	}
	if !contains(Executors, o.Executor) {
		errs = append(errs, fmt.Errorf("--executor %q: must be one of %s", o.Executor, strings.Join(Executors, ", ")))
	}
	if o.StateDir == "" {
		errs = append(errs, errors.New("--state-dir: must not be empty"))
	}
	if o.ChecksDir == "" || !strings.HasPrefix(o.ChecksDir, "/") {
		errs = append(errs, fmt.Errorf("--checks-dir %q: must be an absolute path", o.ChecksDir))
	}
	if o.Root == "" || !strings.HasPrefix(o.Root, "/") {
		errs = append(errs, fmt.Errorf("--root %q: must be an absolute path", o.Root))
	}
	if (o.TLSCert == "") != (o.TLSKey == "") {
		errs = append(errs, errors.New("--tls-cert and --tls-key: give both or neither"))
	}
	if o.StepTimeout <= 0 {
		errs = append(errs, fmt.Errorf("--step-timeout %s: must be positive", o.StepTimeout))
	}
	if o.ResyncPeriod < time.Minute {
		errs = append(errs, fmt.Errorf("--resync-period %s: must be at least 1m", o.ResyncPeriod))
	}
	switch o.LogFormat {
	case "auto", "json", "console":
	default:
		errs = append(errs, fmt.Errorf("--log-format %q: must be auto, json or console", o.LogFormat))
	}
	for _, c := range o.AllowCIDR {
		for _, part := range strings.Split(c, ",") {
			part = strings.TrimSpace(part)
			if _, err := netip.ParsePrefix(part); err == nil {
				continue
			}
			if _, err := netip.ParseAddr(part); err != nil {
				errs = append(errs, fmt.Errorf("--allow-cidr %q: not an address or CIDR network", part))
			}
		}
	}
	if o.AuditMaxSize <= 0 {
		errs = append(errs, fmt.Errorf("--audit-max-size %d: must be positive", o.AuditMaxSize))
	}
	if o.AuditKeep < 1 {
		errs = append(errs, fmt.Errorf("--audit-keep %d: keep at least 1 file", o.AuditKeep))
	}
	if msgs := validation.IsDNS1123Label(o.FleetNamespace); len(msgs) > 0 {
		errs = append(errs, fmt.Errorf("--fleet-namespace %q: %s", o.FleetNamespace, strings.Join(msgs, "; ")))
	}
	if o.FleetSlotTTL < 3*time.Second || o.FleetSlotTTL%time.Second != 0 {
		errs = append(errs, fmt.Errorf("--fleet-slot-ttl %s: must be whole seconds, at least 3s", o.FleetSlotTTL))
	}
	if o.FleetSlotRetry < 100*time.Millisecond {
		errs = append(errs, fmt.Errorf("--fleet-slot-retry %s: must be at least 100ms", o.FleetSlotRetry))
	}
	if o.Kubeconfig != "" && o.Kubeconfig != InCluster {
		if _, err := os.Stat(o.Kubeconfig); err != nil {
			errs = append(errs, fmt.Errorf("--kubeconfig %s: %w", o.Kubeconfig, err))
		}
	}
	return errors.Join(errs...)
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
