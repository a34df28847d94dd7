package policy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/patchlet/patchlet/api/v1alpha1"
	"github.com/patchlet/patchlet/internal/fsutil"
	"github.com/patchlet/patchlet/reconcile"
	"github.com/patchlet/patchlet/store"
)

// maxUpgradableListed bounds status.upgradable; the counts stay exact.
const maxUpgradableListed = 500

// ensureHost creates the agent's Host object, or updates its labels.
func (c *Controller) ensureHost() error {
	cur, err := c.o.Store.Get(store.Hosts, c.o.HostName)
	if apierrors.IsNotFound(err) {
		h := &v1alpha1.Host{}
		h.Name = c.o.HostName
		h.Labels = c.o.HostLabels
		h.Status.OS = c.o.OS
		bi := c.o.BackendInfo
		h.Status.Backend = &bi
		h.Status.Cache.State = v1alpha1.CacheUnknown
		if _, err := c.o.Store.Create(store.Hosts, h); err != nil {
			return fmt.Errorf("creating host %q: %w", c.o.HostName, err)
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("reading host %q: %w", c.o.HostName, err)
	}
	h := cur.(*v1alpha1.Host)
	h.Labels = c.o.HostLabels
	if _, err := c.o.Store.Update(store.Hosts, h); err != nil {
		return fmt.Errorf("updating host %q: %w", c.o.HostName, err)
	}
	return nil
}

// writeHost writes the Host's observed state.
func (c *Controller) writeHost(p *pass, policies []v1alpha1.HostPolicyStatus) error {
	cur, err := c.o.Store.Get(store.Hosts, c.o.HostName)
	if err != nil {
		return fmt.Errorf("reading host: %w", err)
	}
	h := cur.(*v1alpha1.Host)
	st := &h.Status
	st.OS = c.o.OS
	bi := c.o.BackendInfo
	st.Backend = &bi
	st.Policies = policies
	if p.obs != nil {
		obs := p.obs
		if !obs.IndexRefreshed.IsZero() {
			t := metav1.NewTime(obs.IndexRefreshed.UTC().Truncate(time.Second))
			st.Cache.LastRefresh = &t
		}
		st.Packages.Installed = int32(len(obs.Installed))
		st.Packages.Upgradable = int32(len(obs.Upgrades))
		var sec int32
		ups := make([]v1alpha1.UpgradablePackage, 0, len(obs.Upgrades))
		for _, u := range obs.Upgrades {
			if u.Security {
				sec++
			}
			ups = append(ups, v1alpha1.UpgradablePackage{Name: u.Name, From: u.From, To: u.To, Source: u.Source, Security: u.Security})
		}
		sort.Slice(ups, func(i, j int) bool { return ups[i].Name < ups[j].Name })
		if len(ups) > maxUpgradableListed {
			ups = ups[:maxUpgradableListed]
		}
		st.Packages.Security = sec
		st.Upgradable = ups
		c.updateReboot(st, obs.RebootRequired, obs.RebootPackages, p.now)
	}
	if p.cacheState != "" {
		st.Cache.State = p.cacheState
	}
	st.Cache.Message = ""
	gen := h.Generation
	if p.cacheFailure != nil {
		st.Cache.State = v1alpha1.CacheFailed
		st.Cache.Message = p.cacheFailure.Message
		setCondition(&st.Conditions, gen, v1alpha1.ConditionDegraded, metav1.ConditionTrue, v1alpha1.ReasonCacheRefreshFailed, clipMsg(p.cacheFailure.Message))
	} else {
		setCondition(&st.Conditions, gen, v1alpha1.ConditionDegraded, metav1.ConditionFalse, "AsExpected", "")
	}
	if st.RebootRequired.Required {
		msg := "reboot required"
		if len(st.RebootRequired.Packages) > 0 {
			msg += " by " + strings.Join(st.RebootRequired.Packages, ", ")
		}
		setCondition(&st.Conditions, gen, v1alpha1.ConditionRebootRequired, metav1.ConditionTrue, v1alpha1.ReasonRebootPending, clipMsg(msg))
	} else {
		setCondition(&st.Conditions, gen, v1alpha1.ConditionRebootRequired, metav1.ConditionFalse, v1alpha1.ReasonNoRebootRequired, "")
	}
	ready, reason, msg := metav1.ConditionTrue, v1alpha1.ReasonCompliant, "every selecting policy is satisfied"
	for _, hp := range policies {
		if hp.State != v1alpha1.PolicyCompliant && hp.State != v1alpha1.PolicyNotSelected {
			ready, reason, msg = metav1.ConditionFalse, string(hp.State), fmt.Sprintf("policy %s: %s", hp.Name, hp.Message)
			break
		}
	}
	setCondition(&st.Conditions, gen, v1alpha1.ConditionReady, ready, reason, clipMsg(msg))
	c.o.Metrics.SetHostStatus(st)
	_, err = c.o.Store.UpdateStatus(store.Hosts, h)
	return err
}

// updateReboot keeps status.rebootRequired: it is set when the backend
// reports it and cleared only after the host really rebooted (the boot id
// changed), so a deleted marker file does not hide a pending reboot.
func (c *Controller) updateReboot(st *v1alpha1.HostStatus, required bool, pkgs []string, now time.Time) {
	boot, _ := c.o.BootID()
	rr := &st.RebootRequired
	switch {
	case required && !rr.Required:
		t := metav1.NewTime(now.UTC().Truncate(time.Second))
		*rr = v1alpha1.RebootStatus{Required: true, Since: &t, Packages: pkgs, BootID: boot}
	case required:
		rr.Packages = pkgs
	case rr.Required && rr.BootID != "" && rr.BootID == boot:
		// Still the same boot: the requirement stands.
	default:
		*rr = v1alpha1.RebootStatus{}
	}
}

func clipMsg(s string) string {
	const max = 2048
	if len(s) > max {
		return s[:max] + "…"
	}
	return s
}

// rebootRecord is written (fsynced) before a reboot is asked for, so that
// one requirement is acted upon once.
type rebootRecord struct {
	BootID      string    `json:"bootID"`
	RequestedAt time.Time `json:"requestedAt"`
}

func (c *Controller) rebootRecordPath() string {
	return filepath.Join(c.o.StateDir, "reboot.json")
}

func (c *Controller) readRebootRecord() rebootRecord {
	var r rebootRecord
	b, err := os.ReadFile(c.rebootRecordPath())
	if err == nil {
		_ = json.Unmarshal(b, &r)
	}
	return r
}

// maybeReboot reboots when a policy allows it now; otherwise it asks for a
// pass when the reboot window opens.
func (c *Controller) maybeReboot(ctx context.Context, p *pass) {
	if p.obs == nil || c.o.Rebooter == nil {
		return
	}
	required := p.obs.RebootRequired
	boot, err := c.o.BootID()
	if err != nil {
		c.log.Error(err, "cannot read the boot id; not rebooting")
		return
	}
	var selected []v1alpha1.PatchPolicy
	for i := range p.policies {
		if pp, ok := p.plan.Policy(p.policies[i].Name); ok && pp.Selected {
			selected = append(selected, p.policies[i])
		}
	}
	rec := c.readRebootRecord()
	reboot, waitUntil, reason := reconcile.RebootDecision(selected, required, p.now, boot, rec.BootID)
	if !reboot {
		if !waitUntil.IsZero() {
			p.rebootAt = waitUntil
			p.timer(waitUntil.Sub(p.now))
		}
		if required {
			c.log.V(1).Info("reboot required, not now", "reason", reason)
		}
		return
	}
	var gated []string
	for i := range selected {
		if wantsReboot(&selected[i]) {
			gated = append(gated, selected[i].Name)
		}
	}
	if err := c.acquire(ctx, p, gated); err != nil {
		if w := (*Waiting)(nil); !errors.As(err, &w) {
			c.log.Error(err, "cannot ask for a rollout slot; not rebooting")
			p.timer(time.Second)
			return
		}
		p.rebootAt = p.waitingUntil
		p.timer(p.waitingUntil.Sub(p.now))
		return
	}
	p.rebootAt = p.now
	// Record first, fsynced, so that a crash right after cannot reboot twice.
	b, _ := json.Marshal(rebootRecord{BootID: boot, RequestedAt: p.now})
	if err := fsutil.WriteFileAtomic(c.rebootRecordPath(), b, 0o600); err != nil {
		c.log.Error(err, "cannot record the reboot; not rebooting")
		return
	}
	// Status first: it is fsynced by the store.
	if err := c.writeStatus(p); err != nil {
		c.log.Error(err, "writing status before reboot")
	}
	c.log.Info("rebooting", "packages", p.obs.RebootPackages, "bootID", boot)
	if err := c.o.Rebooter.Reboot(ctx); err != nil {
		c.log.Error(err, "reboot command failed")
		_ = os.Remove(c.rebootRecordPath())
	}
}
