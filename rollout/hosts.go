package rollout

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/validation"
	"sigs.k8s.io/yaml"

	"github.com/patchlet/patchlet/api/v1alpha1"
)

// HostsFile is the inventory of agents a rollout may reach (HOSTS.yaml):
//
//	defaults:                 # credentials for every host that names none
//	  cert: certs/patchctl.crt
//	  key: certs/patchctl.key
//	  ca: certs/ca.crt
//	hosts:
//	- name: web-1
//	  server: https://web-1.example.net:8443
//	  labels: {role: web, zone: a}
//	- name: db-1
//	  server: unix:/run/patchlet/patchlet.sock
//	  labels: {role: db}
//	  ca: certs/other-ca.crt   # per-host override of cert, key or ca
//
// Relative certificate paths are relative to the directory of the file.
type HostsFile struct {
	Defaults Credentials `json:"defaults,omitempty"`
	Hosts    []Host      `json:"hosts"`
}

// Credentials are the client certificate, key and CA bundle (PEM files) of
// mutual TLS.
type Credentials struct {
	Cert string `json:"cert,omitempty"`
	Key  string `json:"key,omitempty"`
	CA   string `json:"ca,omitempty"`
}

// Host is one agent of the inventory.
type Host struct {
	// Name identifies the host in the rollout (state file, summary).
	Name string `json:"name"`
	// Server is the agent's API: https://HOST:PORT, unix:/path or
	// http://127.0.0.1:PORT.
	Server string `json:"server"`
	// Labels are matched by the policy's spec.hostSelector.
	Labels map[string]string `json:"labels,omitempty"`
	// Credentials override the defaults field by field.
	Credentials `json:",inline"`
}

// ParseHosts decodes a HOSTS.yaml strictly (unknown or duplicate fields are
// errors), validates it, resolves relative certificate paths against dir
// and fills in the default credentials.
func ParseHosts(data []byte, dir string) ([]Host, error) {
	var f HostsFile
	if err := yaml.UnmarshalStrict(data, &f); err != nil {
		return nil, fmt.Errorf("decoding hosts file: %w", err)
	}
	if len(f.Hosts) == 0 {
		return nil, errors.New("hosts file lists no hosts")
	}
	var problems []string
	seen := map[string]bool{}
	out := make([]Host, 0, len(f.Hosts))
	for i, h := range f.Hosts {
		where := fmt.Sprintf("hosts[%d]", i)
		switch {
		case h.Name == "":
			problems = append(problems, where+".name: required")
		case len(validation.IsDNS1123Subdomain(h.Name)) > 0:
			problems = append(problems, fmt.Sprintf("%s.name: %q is not a DNS subdomain name", where, h.Name))
		case seen[h.Name]:
			problems = append(problems, fmt.Sprintf("%s.name: %q appears twice", where, h.Name))
		}
		seen[h.Name] = true
		if h.Server == "" {
			problems = append(problems, where+".server: required (https://HOST:PORT or unix:/path)")
		} else if !strings.HasPrefix(h.Server, "https://") && !strings.HasPrefix(h.Server, "unix:") && !strings.HasPrefix(h.Server, "http://") {
			problems = append(problems, fmt.Sprintf("%s.server: %q: want https://HOST:PORT or unix:/path", where, h.Server))
		}
		for k, v := range h.Labels {
			for _, e := range validation.IsQualifiedName(k) {
				problems = append(problems, fmt.Sprintf("%s.labels: key %q: %s", where, k, e))
			}
			for _, e := range validation.IsValidLabelValue(v) {
				problems = append(problems, fmt.Sprintf("%s.labels[%s]: %s", where, k, e))
			}
		}
		h.Cert = orDefault(h.Cert, f.Defaults.Cert, dir)
		h.Key = orDefault(h.Key, f.Defaults.Key, dir)
		h.CA = orDefault(h.CA, f.Defaults.CA, dir)
		out = append(out, h)
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("invalid hosts file:\n  %s", strings.Join(problems, "\n  "))
	}
	return out, nil
}

func orDefault(v, def, dir string) string {
	if v == "" {
		v = def
	}
	if v == "" || filepath.IsAbs(v) || dir == "" {
		return v
	}
	return filepath.Join(dir, v)
}

// Select returns the hosts whose labels the selector matches, in inventory
// order. A nil or empty selector selects every host.
func Select(hosts []Host, sel *metav1.LabelSelector) ([]Host, error) {
	s, err := v1alpha1.AsSelector(sel)
	if err != nil {
		return nil, fmt.Errorf("spec.hostSelector: %w", err)
	}
	var out []Host
	for _, h := range hosts {
		if s.Matches(labels.Set(h.Labels)) {
			out = append(out, h)
		}
	}
	return out, nil
}
