package reconcile_test

import (
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/patchlet/patchlet/api/v1alpha1"
	"github.com/patchlet/patchlet/backends"
	"github.com/patchlet/patchlet/reconcile"
)

// policy builds a defaulted policy; opts modify its spec.
func policy(name string, opts ...func(*v1alpha1.PatchPolicy)) v1alpha1.PatchPolicy {
	p := v1alpha1.PatchPolicy{ObjectMeta: metav1.ObjectMeta{Name: name, Generation: 1}}
	for _, o := range opts {
		o(&p)
	}
	p.SetDefaults()
	return p
}

func pkg(name string, state v1alpha1.PackageState, version string) func(*v1alpha1.PatchPolicy) {
	return func(p *v1alpha1.PatchPolicy) {
		p.Spec.Packages = append(p.Spec.Packages, v1alpha1.PackageSpec{Name: name, State: state, Version: version})
	}
}

func updates(class v1alpha1.UpdateClass, exclude ...string) func(*v1alpha1.PatchPolicy) {
	return func(p *v1alpha1.PatchPolicy) {
		p.Spec.Updates = &v1alpha1.UpdatesSpec{Apply: class, Exclude: exclude}
	}
}

func audit(p *v1alpha1.PatchPolicy)   { p.Spec.Mode = v1alpha1.ModeAudit }
func suspend(p *v1alpha1.PatchPolicy) { p.Spec.Suspend = true }

func generation(g int64) func(*v1alpha1.PatchPolicy) {
	return func(p *v1alpha1.PatchPolicy) { p.Generation = g }
}

func selector(matchLabels map[string]string) func(*v1alpha1.PatchPolicy) {
	return func(p *v1alpha1.PatchPolicy) { p.Spec.HostSelector = &metav1.LabelSelector{MatchLabels: matchLabels} }
}

func maintenance(w v1alpha1.TimeWindow) func(*v1alpha1.PatchPolicy) {
	return func(p *v1alpha1.PatchPolicy) { p.Spec.MaintenanceWindow = &w }
}

func reboot(policy v1alpha1.RebootPolicyType, w *v1alpha1.TimeWindow) func(*v1alpha1.PatchPolicy) {
	return func(p *v1alpha1.PatchPolicy) { p.Spec.Reboot = &v1alpha1.RebootSpec{Policy: policy, Window: w} }
}

func win(start string, d time.Duration, tz string, days ...v1alpha1.Weekday) v1alpha1.TimeWindow {
	return v1alpha1.TimeWindow{Days: days, Start: start, Duration: v1alpha1.NewDuration(d), TimeZone: tz}
}

// obs is a small observation builder.
type obs struct{ o *backends.Observation }

func observe() obs {
	return obs{&backends.Observation{
		Installed: map[string]backends.Package{},
		Upgrades:  map[string]backends.Upgrade{},
		Available: map[string][]string{},
	}}
}

func (b obs) installed(name, version string) obs {
	b.o.Installed[name] = backends.Package{Name: name, Version: version}
	return b
}

func (b obs) held(name, version string) obs {
	b.o.Installed[name] = backends.Package{Name: name, Version: version, Held: true}
	return b
}

func (b obs) upgrade(name, from, to string, security bool) obs {
	b.o.Upgrades[name] = backends.Upgrade{Name: name, From: from, To: to, Security: security}
	return b
}

func (b obs) available(name string, versions ...string) obs {
	b.o.Available[name] = versions
	return b
}

func utc(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t
}

var allCaps = backends.Capabilities{Hold: true, Security: true}

// apply simulates running steps on an observation the way a package
// manager would, so that a second plan can be checked for idempotence.
func apply(o *backends.Observation, steps []reconcile.Step) {
	for _, s := range steps {
		for _, ref := range s.Packages {
			p := o.Installed[ref.Name]
			switch s.Type {
			case v1alpha1.StepInstall:
				v := ref.Version
				if v == "" {
					if a := o.Available[ref.Name]; len(a) > 0 {
						v = a[0]
					} else {
						v = "1.0"
					}
				}
				p.Name, p.Version = ref.Name, v
				o.Installed[ref.Name] = p
				delete(o.Upgrades, ref.Name)
			case v1alpha1.StepUpgrade:
				p.Version = o.Upgrades[ref.Name].To
				o.Installed[ref.Name] = p
				delete(o.Upgrades, ref.Name)
			case v1alpha1.StepRemove:
				delete(o.Installed, ref.Name)
				delete(o.Upgrades, ref.Name)
			case v1alpha1.StepHold:
				p.Held = true
				o.Installed[ref.Name] = p
			case v1alpha1.StepUnhold:
				p.Held = false
				o.Installed[ref.Name] = p
			}
		}
	}
}
