package server

import (
	"encoding/json"
	"net/http"
	"time"

	"github.com/julienschmidt/httprouter"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"

	"github.com/patchlet/patchlet/api/v1alpha1"
	"github.com/patchlet/patchlet/reconcile"
	"github.com/patchlet/patchlet/store"
)

// HealthOptions is what GET /health reports besides the Host object.
type HealthOptions struct {
	// HostName names the Host object the agent keeps.
	HostName string
	// Version is patchlet's own version (internal/version.Version).
	Version string
	// Started is when the agent started; uptime counts from it.
	Started time.Time
	// Backend is the package-manager backend in use; the Host's
	// status.backend wins when it is set.
	Backend string
}

// Health states of GET /health.
const (
	HealthHealthy  = "healthy"
	HealthDegraded = "degraded"
)

// Health is the document GET /health answers, for patch hubs that poll
// every host (issue #14). Names are camelCase like the rest of the API.
type Health struct {
	// Status is healthy, or degraded when the last index refresh failed or
	// the Host's Degraded condition is True.
	Status  string `json:"status"`
	Version string `json:"version"`
	// UptimeSeconds counts whole seconds since the agent started.
	UptimeSeconds int64  `json:"uptimeSeconds"`
	HostName      string `json:"hostName"`
	Backend       string `json:"backend"`
	// LastCacheUpdate is the last successful index refresh; null before any.
	LastCacheUpdate *time.Time `json:"lastCacheUpdate"`
	// CacheStatus is fresh, stale, unknown or failed.
	CacheStatus    v1alpha1.CacheState `json:"cacheStatus"`
	RebootRequired bool                `json:"rebootRequired"`
	// Reasons say why the agent is degraded.
	Reasons []string `json:"reasons,omitempty"`
}

// serveHealthDoc answers GET /health: 200 whenever the agent serves,
// degraded or not, so that a hub tells "down" from "degraded".
func (s *Server) serveHealthDoc(w http.ResponseWriter, r *http.Request, _ httprouter.Params) {
	h, err := s.health(s.now())
	if err != nil {
		s.log.Error(err, "computing health")
		s.writeError(w, r, err)
		return
	}
	b, err := json.Marshal(h)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.writeJSON(w, http.StatusOK, formatJSON, b)
}

// health computes the document at now from the Host and the policies in
// the store: the cache state is worked out at request time with the loop's
// own rule, so that an index that aged past maxAge since the last pass is
// reported stale, not as fresh as that pass saw it.
func (s *Server) health(now time.Time) (Health, error) {
	o := s.healthOpts
	h := Health{
		Status:      HealthHealthy,
		Version:     o.Version,
		HostName:    o.HostName,
		Backend:     o.Backend,
		CacheStatus: v1alpha1.CacheUnknown,
	}
	if !o.Started.IsZero() {
		h.UptimeSeconds = int64(now.Sub(o.Started) / time.Second)
	}
	if o.HostName == "" {
		return h, nil
	}
	obj, err := s.store.Get(store.Hosts, o.HostName)
	if apierrors.IsNotFound(err) {
		return h, nil // the loop has not created it yet
	}
	if err != nil {
		return h, err
	}
	host := obj.(*v1alpha1.Host)
	items, _, err := s.store.List(store.PatchPolicies)
	if err != nil {
		return h, err
	}
	// Defaulted copies, as the loop plans them.
	policies := make([]v1alpha1.PatchPolicy, 0, len(items))
	for _, it := range items {
		pol := it.Object.(*v1alpha1.PatchPolicy).DeepCopy()
		pol.SetDefaults()
		policies = append(policies, *pol)
	}
	st := &host.Status
	if st.Backend != nil && st.Backend.Name != "" {
		h.Backend = st.Backend.Name
	}
	if lr := st.Cache.LastRefresh; lr != nil {
		t := lr.UTC()
		h.LastCacheUpdate = &t
	}
	h.CacheStatus = HostCacheState(host, policies, now)
	h.RebootRequired = st.RebootRequired.Required
	if h.CacheStatus == v1alpha1.CacheFailed {
		msg := "package index refresh failed"
		if st.Cache.Message != "" {
			msg += ": " + st.Cache.Message
		}
		h.Reasons = append(h.Reasons, msg)
	}
	if c := meta.FindStatusCondition(st.Conditions, v1alpha1.ConditionDegraded); c != nil && c.Status == "True" {
		// A failed refresh is also the Degraded condition; say it once.
		if c.Reason != v1alpha1.ReasonCacheRefreshFailed || h.CacheStatus != v1alpha1.CacheFailed {
			h.Reasons = append(h.Reasons, c.Reason+": "+c.Message)
		}
	}
	if len(h.Reasons) > 0 {
		h.Status = HealthDegraded
	}
	return h, nil
}

// HostCacheState is the package index's state at now: failed while the
// Host says the last refresh failed (until one succeeds), else what
// reconcile.RefreshDue, the loop's rule, says of the Host's last refresh
// under the policies. The plan is taken without its steps: a refresh
// "before every change" (maxAge 0) happens in the pass that runs the
// change, and between passes the index is judged by the period alone.
func HostCacheState(host *v1alpha1.Host, policies []v1alpha1.PatchPolicy, now time.Time) v1alpha1.CacheState {
	if host.Status.Cache.State == v1alpha1.CacheFailed {
		return v1alpha1.CacheFailed
	}
	var refreshed time.Time
	if lr := host.Status.Cache.LastRefresh; lr != nil {
		refreshed = lr.Time
	}
	plan := reconcile.Plan(reconcile.PlanInput{Policies: policies, HostLabels: host.Labels, Now: now})
	plan.Steps = nil
	return reconcile.RefreshDue(policies, plan, refreshed, now).State
}
