package testenv

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"
	"sigs.k8s.io/yaml"
)

// FieldManager is the server-side apply field manager of Apply*.
const FieldManager = "patchlet-testenv"

// The admission policies of config/rbac whose bindings ApplyObjects waits for.
const (
	HostPinningPolicy = "patchlet-host-pinning"
	LeaseHolderPolicy = "patchlet-lease-holder"
)

var (
	crdGVR     = schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}
	hostGVR    = schema.GroupVersionResource{Group: "patchlet.io", Version: "v1alpha1", Resource: "hosts"}
	crdGK      = schema.GroupKind{Group: "apiextensions.k8s.io", Kind: "CustomResourceDefinition"}
	vapBinding = schema.GroupKind{Group: "admissionregistration.k8s.io", Kind: "ValidatingAdmissionPolicyBinding"}
)

// ApplyDir server-side applies every *.yaml and *.yml file of dir (see
// ApplyObjects); kustomization.yaml is skipped.
func (e *Env) ApplyDir(ctx context.Context, dir string) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("read manifests: %w", err)
	}
	var objs []*unstructured.Unstructured
	for _, ent := range entries {
		name := ent.Name()
		if ent.IsDir() || name == "kustomization.yaml" || !(strings.HasSuffix(name, ".yaml") || strings.HasSuffix(name, ".yml")) {
			continue
		}
		o, err := ReadManifests(filepath.Join(dir, name))
		if err != nil {
			return err
		}
		objs = append(objs, o...)
	}
	return e.ApplyObjects(ctx, e.Admin, objs...)
}

// ReadManifests decodes the objects of a multi-document YAML file.
func ReadManifests(path string) ([]*unstructured.Unstructured, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read manifest: %w", err)
	}
	objs, err := DecodeManifests(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return objs, nil
}

// DecodeManifests decodes the objects of multi-document YAML or JSON.
func DecodeManifests(data []byte) ([]*unstructured.Unstructured, error) {
	r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	var objs []*unstructured.Unstructured
	for {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			return objs, nil
		}
		if err != nil {
			return nil, fmt.Errorf("split yaml: %w", err)
		}
		var m map[string]any
		if err := yaml.Unmarshal(doc, &m); err != nil {
			return nil, fmt.Errorf("decode yaml: %w", err)
		}
		if len(m) == 0 {
			continue
		}
		objs = append(objs, &unstructured.Unstructured{Object: m})
	}
}

// ApplyObjects server-side applies objs as cfg (force, FieldManager).
// Namespaces and CRDs go first; CRDs are waited for until Established, and
// a ValidatingAdmissionPolicyBinding until the API server enforces it.
func (e *Env) ApplyObjects(ctx context.Context, cfg *rest.Config, objs ...*unstructured.Unstructured) error {
	if len(objs) == 0 {
		return nil
	}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return fmt.Errorf("dynamic client: %w", err)
	}
	dc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		return fmt.Errorf("discovery client: %w", err)
	}
	mapper := restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(dc))
	rank := func(o *unstructured.Unstructured) int {
		switch o.GetKind() {
		case "Namespace":
			return 0
		case "CustomResourceDefinition":
			return 1
		case "ValidatingAdmissionPolicyBinding":
			return 3
		}
		return 2
	}
	sorted := slices.Clone(objs)
	sort.SliceStable(sorted, func(i, j int) bool { return rank(sorted[i]) < rank(sorted[j]) })

	var crds, bindings []string
	for _, o := range sorted {
		gvk := o.GroupVersionKind()
		var m *meta.RESTMapping
		// A CRD applied a moment ago may not be in discovery yet.
		err := poll(ctx, 30*time.Second, func() (bool, error) {
			var err error
			m, err = mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
			if meta.IsNoMatchError(err) {
				mapper.Reset()
				return false, nil
			}
			return err == nil, err
		})
		if err != nil {
			return fmt.Errorf("map %s: %w", gvk, err)
		}
		data, err := o.MarshalJSON()
		if err != nil {
			return fmt.Errorf("encode %s %s: %w", gvk.Kind, o.GetName(), err)
		}
		var ri dynamic.ResourceInterface = dyn.Resource(m.Resource)
		if m.Scope.Name() == meta.RESTScopeNameNamespace {
			ns := o.GetNamespace()
			if ns == "" {
				ns = "default"
			}
			ri = dyn.Resource(m.Resource).Namespace(ns)
		}
		force := true
		if _, err := ri.Patch(ctx, o.GetName(), types.ApplyPatchType, data,
			metav1.PatchOptions{FieldManager: FieldManager, Force: &force}); err != nil {
			return fmt.Errorf("apply %s %s: %w", gvk.Kind, o.GetName(), err)
		}
		switch gvk.GroupKind() {
		case crdGK:
			crds = append(crds, o.GetName())
		case vapBinding:
			bindings = append(bindings, o.GetName())
		}
		if len(crds) > 0 && rank(o) > 1 {
			if err := e.waitEstablished(ctx, dyn, crds); err != nil {
				return err
			}
			crds = nil
			mapper.Reset()
		}
	}
	if err := e.waitEstablished(ctx, dyn, crds); err != nil {
		return err
	}
	if slices.Contains(bindings, HostPinningPolicy) {
		if err := e.waitHostPinning(ctx); err != nil {
			return err
		}
	}
	if slices.Contains(bindings, LeaseHolderPolicy) {
		return e.waitLeaseHolder(ctx)
	}
	return nil
}

func (e *Env) waitEstablished(ctx context.Context, dyn dynamic.Interface, names []string) error {
	for _, name := range names {
		err := poll(ctx, 30*time.Second, func() (bool, error) {
			crd, err := dyn.Resource(crdGVR).Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				return false, err
			}
			conds, _, _ := unstructured.NestedSlice(crd.Object, "status", "conditions")
			for _, c := range conds {
				cm, _ := c.(map[string]any)
				if cm["type"] == "Established" && cm["status"] == "True" {
					return true, nil
				}
			}
			return false, nil
		})
		if err != nil {
			return fmt.Errorf("crd %s not established: %w", name, err)
		}
	}
	return nil
}

// waitHostPinning waits until the admission policy that pins an agent to
// its own Host is enforced (policies load asynchronously): a dry-run update
// of a probe Host by another host's identity must be denied by it.
func (e *Env) waitHostPinning(ctx context.Context) error {
	const probe = "patchlet-testenv-probe"
	admin, err := dynamic.NewForConfig(e.Admin)
	if err != nil {
		return fmt.Errorf("dynamic client: %w", err)
	}
	h := &unstructured.Unstructured{}
	h.SetAPIVersion("patchlet.io/v1alpha1")
	h.SetKind("Host")
	h.SetName(probe)
	created, err := admin.Resource(hostGVR).Create(ctx, h, metav1.CreateOptions{})
	if err != nil {
		if apierrors.IsNotFound(err) || meta.IsNoMatchError(err) {
			return nil // no Host CRD installed: nothing to pin
		}
		return fmt.Errorf("create probe host: %w", err)
	}
	defer func() {
		_ = admin.Resource(hostGVR).Delete(context.WithoutCancel(ctx), probe, metav1.DeleteOptions{})
	}()
	other, err := e.HostConfig(probe + "-other")
	if err != nil {
		return err
	}
	dyn, err := dynamic.NewForConfig(other)
	if err != nil {
		return fmt.Errorf("dynamic client: %w", err)
	}
	var last error
	err = poll(ctx, 30*time.Second, func() (bool, error) {
		_, last = dyn.Resource(hostGVR).UpdateStatus(ctx, created, metav1.UpdateOptions{DryRun: []string{metav1.DryRunAll}})
		return last != nil && strings.Contains(last.Error(), "ValidatingAdmissionPolicy"), nil
	})
	if err != nil {
		return fmt.Errorf("host pinning policy not enforced (last answer: %v): %w", last, err)
	}
	return nil
}

// waitLeaseHolder waits until the admission policy that pins a Lease's
// holder to the agent writing it is enforced: a dry-run create of a Lease
// held by another host must be denied by it.
func (e *Env) waitLeaseHolder(ctx context.Context) error {
	cfg, err := e.HostConfig("patchlet-testenv-probe")
	if err != nil {
		return err
	}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return fmt.Errorf("dynamic client: %w", err)
	}
	l := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "coordination.k8s.io/v1",
		"kind":       "Lease",
		"metadata":   map[string]any{"name": "patchlet-testenv-probe"},
		"spec":       map[string]any{"holderIdentity": "patchlet-testenv-probe-other"},
	}}
	leases := schema.GroupVersionResource{Group: "coordination.k8s.io", Version: "v1", Resource: "leases"}
	var last error
	err = poll(ctx, 30*time.Second, func() (bool, error) {
		_, last = dyn.Resource(leases).Namespace(Namespace).Create(ctx, l, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
		return last != nil && strings.Contains(last.Error(), "ValidatingAdmissionPolicy"), nil
	})
	if err != nil {
		return fmt.Errorf("lease holder policy not enforced (last answer: %v): %w", last, err)
	}
	return nil
}

// poll calls cond every 100ms until it returns true or an error, or timeout passes.
func poll(ctx context.Context, timeout time.Duration, cond func() (bool, error)) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for {
		ok, err := cond()
		if err != nil || ok {
			return err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("timed out after %s: %w", timeout, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}
