package agent

import (
	"fmt"

	"github.com/go-logr/logr"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/patchlet/patchlet/fleet"
	"github.com/patchlet/patchlet/internal/options"
	"github.com/patchlet/patchlet/store"
)

// newFleet builds fleet mode when --kubeconfig is set (nil otherwise): the
// agent registers its Host in the cluster, mirrors the PatchPolicies that
// select it into st, reports its status, takes rollout slots and stands
// for election as the fleet leader.
func newFleet(o options.Options, st *store.Store, host string, log logr.Logger) (*fleet.Agent, error) {
	if o.Kubeconfig == "" {
		return nil, nil
	}
	var (
		cfg *rest.Config
		err error
	)
	if o.Kubeconfig == options.InCluster {
		cfg, err = rest.InClusterConfig()
	} else {
		cfg, err = clientcmd.BuildConfigFromFlags("", o.Kubeconfig)
	}
	if err != nil {
		return nil, fmt.Errorf("--kubeconfig %s: %w", o.Kubeconfig, err)
	}
	fa, err := fleet.New(fleet.Options{
		Config:          cfg,
		Store:           st,
		HostName:        host,
		HostLabels:      o.HostLabels,
		Log:             log.WithName("fleet"),
		LeaderCandidate: o.FleetLeader,
		Namespace:       o.FleetNamespace,
		SlotTTL:         o.FleetSlotTTL,
		SlotRetry:       o.FleetSlotRetry,
	})
	if err != nil {
		return nil, fmt.Errorf("fleet mode: %w", err)
	}
	return fa, nil
}
