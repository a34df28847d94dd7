package v1alpha1

import (
	"fmt"
	"net/url"
	"path"
	"regexp"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Limits on what a policy may contain.
const (
	MaxPackageNameLength = 128
	MaxVersionLength     = 128
	MaxPackages          = 1000
	MaxExcludes          = 100
	MaxResolvedPackages  = 5000
	MaxWaves             = 20
	MaxWindowDuration    = 7 * 24 * time.Hour
)

// Package naming rules. Every distribution patchlet supports names packages
// from a small ASCII alphabet; a name that starts with anything but a letter
// or a digit could be read as an option, and none of them admits a shell
// metacharacter, a space or a non-ASCII look-alike.
var (
	// debianName: Debian Policy 5.6.1, lowercase letters, digits, + - .; at
	// least two characters, starting with an alphanumeric.
	debianName = regexp.MustCompile(`^[a-z0-9][a-z0-9+.-]+$`)
	// rpmName: RPM/Fedora packaging guidelines, letters, digits, - . _ +.
	rpmName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._+-]*$`)
	// pacmanName: alpm, lowercase letters, digits, @ . _ + -, not starting
	// with - or . .
	pacmanName = regexp.MustCompile(`^[a-z0-9@_+][a-z0-9@._+-]*$`)
	// apkName: Alpine, lowercase letters, digits, . _ + -.
	apkName = regexp.MustCompile(`^[a-z0-9][a-z0-9._+-]*$`)
	// anyName is the union accepted in a distribution-neutral policy.
	anyName = regexp.MustCompile(`^[A-Za-z0-9@_+][A-Za-z0-9@._+-]*$`)

	// debianVersion: [epoch:]upstream[-revision], upstream starts with a digit.
	debianVersion = regexp.MustCompile(`^([0-9]+:)?[0-9][A-Za-z0-9.+~:-]*$`)
	// rpmVersion: [epoch:]version[-release].
	rpmVersion = regexp.MustCompile(`^([0-9]+:)?[A-Za-z0-9][A-Za-z0-9._+~^-]*$`)
	// anyVersion is the union accepted in a distribution-neutral policy.
	anyVersion = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._+~^:-]*$`)

	// globPattern: a package name with * ? and [] wildcards.
	globPattern = regexp.MustCompile(`^[A-Za-z0-9@_+*?\[][A-Za-z0-9@._+*?\[\]-]*$`)

	clockTime = regexp.MustCompile(`^([01][0-9]|2[0-3]):[0-5][0-9]$`)

	// checkName: a file name in the checks directory; no path, no option.
	checkName = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9._-]*$`)
)

// Limits of a health check.
const (
	MaxCheckNameLength = 253
	MaxCheckURLLength  = 2048
)

// Distribution families for ValidatePackageNameFor.
const (
	FamilyDebian = "debian"
	FamilyRPM    = "rpm"
	FamilyPacman = "pacman"
	FamilyAPK    = "apk"
)

// IsPackageName reports whether name is a valid package name for the
// distribution family ("" accepts the union of all families).
func IsPackageName(family, name string) bool {
	if len(name) == 0 || len(name) > MaxPackageNameLength {
		return false
	}
	// apt reads a trailing "-" as "remove this package" (apt-get install
	// openssl- removes openssl); no real package name ends with one.
	if strings.HasSuffix(name, "-") {
		return false
	}
	switch family {
	case FamilyDebian:
		return debianName.MatchString(name)
	case FamilyRPM:
		return rpmName.MatchString(name)
	case FamilyPacman:
		return pacmanName.MatchString(name)
	case FamilyAPK:
		return apkName.MatchString(name)
	default:
		return anyName.MatchString(name)
	}
}

// IsPackageVersion reports whether v is a valid version for the family
// ("" accepts the union of all families).
func IsPackageVersion(family, v string) bool {
	if len(v) == 0 || len(v) > MaxVersionLength {
		return false
	}
	switch family {
	case FamilyDebian:
		return debianVersion.MatchString(v)
	case FamilyRPM, FamilyPacman, FamilyAPK:
		return rpmVersion.MatchString(v)
	default:
		return anyVersion.MatchString(v)
	}
}

var weekdays = map[Weekday]time.Weekday{
	"Sun": time.Sunday, "Mon": time.Monday, "Tue": time.Tuesday, "Wed": time.Wednesday,
	"Thu": time.Thursday, "Fri": time.Friday, "Sat": time.Saturday,
}

// ParseWeekday returns the time.Weekday of a three-letter day name.
func ParseWeekday(d Weekday) (time.Weekday, bool) {
	w, ok := weekdays[d]
	return w, ok
}

// ValidateObjectName checks metadata.name: a DNS-1123 subdomain.
func ValidateObjectName(name string, fld *field.Path) field.ErrorList {
	var errs field.ErrorList
	if name == "" {
		return append(errs, field.Required(fld, "name is required"))
	}
	for _, msg := range validation.IsDNS1123Subdomain(name) {
		errs = append(errs, field.Invalid(fld, printable(name), msg))
	}
	return errs
}

func validateMeta(m *metav1.ObjectMeta, fld *field.Path) field.ErrorList {
	errs := ValidateObjectName(m.Name, fld.Child("name"))
	if m.Namespace != "" {
		errs = append(errs, field.Forbidden(fld.Child("namespace"), "patchlet objects are cluster-scoped"))
	}
	errs = append(errs, metav1validation.ValidateLabels(m.Labels, fld.Child("labels"))...)
	return errs
}

// Validate checks a (defaulted) policy and returns one error per bad field.
func (p *PatchPolicy) Validate() field.ErrorList {
	errs := validateMeta(&p.ObjectMeta, field.NewPath("metadata"))
	errs = append(errs, ValidatePatchPolicySpec(&p.Spec, field.NewPath("spec"))...)
	return errs
}

// ValidatePatchPolicySpec checks a policy spec.
func ValidatePatchPolicySpec(s *PatchPolicySpec, fld *field.Path) field.ErrorList {
	var errs field.ErrorList
	if s.HostSelector != nil {
		errs = append(errs, metav1validation.ValidateLabelSelector(s.HostSelector,
			metav1validation.LabelSelectorValidationOptions{}, fld.Child("hostSelector"))...)
	}
	if len(s.Packages) > MaxPackages {
		errs = append(errs, field.TooMany(fld.Child("packages"), len(s.Packages), MaxPackages))
	}
	seen := map[string]int{}
	for i := range s.Packages {
		pf := fld.Child("packages").Index(i)
		pkg := &s.Packages[i]
		errs = append(errs, validatePackageName(pkg.Name, pf.Child("name"))...)
		if j, dup := seen[pkg.Name]; dup && pkg.Name != "" {
			errs = append(errs, field.Duplicate(pf.Child("name"), fmt.Sprintf("%s (also packages[%d])", pkg.Name, j)))
		}
		seen[pkg.Name] = i
		if pkg.Version != "" {
			if !IsPackageVersion("", pkg.Version) {
				errs = append(errs, field.Invalid(pf.Child("version"), printable(pkg.Version),
					"must start with a letter or digit and contain only letters, digits and . _ + ~ ^ : - (at most 128 characters)"))
			}
		}
		switch pkg.State {
		case PackagePresent, PackageHeld, "":
		case PackageLatest, PackageAbsent:
			if pkg.Version != "" {
				errs = append(errs, field.Invalid(pf.Child("version"), pkg.Version,
					fmt.Sprintf("a version pin is not allowed with state %s", pkg.State)))
			}
		default:
			errs = append(errs, field.NotSupported(pf.Child("state"), pkg.State,
				[]string{string(PackagePresent), string(PackageLatest), string(PackageAbsent), string(PackageHeld)}))
		}
	}
	if u := s.Updates; u != nil {
		uf := fld.Child("updates")
		switch u.Apply {
		case UpdatesNone, UpdatesSecurity, UpdatesAll, "":
		default:
			errs = append(errs, field.NotSupported(uf.Child("apply"), u.Apply,
				[]string{string(UpdatesNone), string(UpdatesSecurity), string(UpdatesAll)}))
		}
		if len(u.Exclude) > MaxExcludes {
			errs = append(errs, field.TooMany(uf.Child("exclude"), len(u.Exclude), MaxExcludes))
		}
		for i, g := range u.Exclude {
			if len(g) == 0 || len(g) > MaxPackageNameLength || !globPattern.MatchString(g) || !wellFormedGlob(g) {
				errs = append(errs, field.Invalid(uf.Child("exclude").Index(i), printable(g),
					"must be a package name glob: letters, digits, . _ + @ - and the wildcards * ? [ ], not starting with - or ."))
			}
		}
		if r := u.Resolved; r != nil {
			rf := uf.Child("resolved")
			if len(r.Release) > MaxPackageNameLength {
				errs = append(errs, field.TooLong(rf.Child("release"), "", MaxPackageNameLength))
			}
			if len(r.Packages) > MaxResolvedPackages {
				errs = append(errs, field.TooMany(rf.Child("packages"), len(r.Packages), MaxResolvedPackages))
			}
			seen := map[string]bool{}
			for i, pv := range r.Packages {
				pf := rf.Child("packages").Index(i)
				errs = append(errs, validatePackageName(pv.Name, pf.Child("name"))...)
				if seen[pv.Name] {
					errs = append(errs, field.Duplicate(pf.Child("name"), pv.Name))
				}
				seen[pv.Name] = true
				if pv.Version == "" || !IsPackageVersion("", pv.Version) {
					errs = append(errs, field.Invalid(pf.Child("version"), printable(pv.Version), "must be a package version"))
				}
			}
		}
	}
	if c := s.Cache; c != nil && c.MaxAge != nil {
		if d, err := c.MaxAge.Parse(); err != nil {
			errs = append(errs, field.Invalid(fld.Child("cache", "maxAge"), printable(string(*c.MaxAge)), "must be a duration such as 4h, 90m or 1h30m"))
		} else if d < 0 {
			errs = append(errs, field.Invalid(fld.Child("cache", "maxAge"), string(*c.MaxAge), "must not be negative"))
		}
	}
	if r := s.Reboot; r != nil {
		rf := fld.Child("reboot")
		switch r.Policy {
		case RebootNever, RebootIfRequired, "":
		default:
			errs = append(errs, field.NotSupported(rf.Child("policy"), r.Policy,
				[]string{string(RebootNever), string(RebootIfRequired)}))
		}
		if r.Window != nil {
			errs = append(errs, ValidateTimeWindow(r.Window, rf.Child("window"))...)
		}
	}
	if s.MaintenanceWindow != nil {
		errs = append(errs, ValidateTimeWindow(s.MaintenanceWindow, fld.Child("maintenanceWindow"))...)
	}
	switch s.Mode {
	case ModeEnforce, ModeAudit, "":
	default:
		errs = append(errs, field.NotSupported(fld.Child("mode"), s.Mode, []string{string(ModeEnforce), string(ModeAudit)}))
	}
	errs = append(errs, validateHealthCheck(s.HealthCheck, fld.Child("healthCheck"))...)
	if r := s.Rollout; r != nil {
		errs = append(errs, validateIntOrPercent(r.MaxConcurrent, fld.Child("rollout", "maxConcurrent"), 1)...)
		errs = append(errs, validateIntOrPercent(r.MaxFailures, fld.Child("rollout", "maxFailures"), 0)...)
		wf := fld.Child("rollout", "waves")
		if len(r.Waves) > MaxWaves {
			errs = append(errs, field.TooMany(wf, len(r.Waves), MaxWaves))
		}
		for i, w := range r.Waves {
			f := wf.Index(i)
			switch {
			case w.Hosts == nil && w.Selector == nil:
				errs = append(errs, field.Required(f, "a wave needs hosts (a count or percentage) or a selector"))
			case w.Hosts != nil && w.Selector != nil:
				errs = append(errs, field.Invalid(f, "", "a wave has either hosts or a selector, not both"))
			case w.Hosts != nil:
				errs = append(errs, validateIntOrPercent(w.Hosts, f.Child("hosts"), 1)...)
			default:
				if _, err := AsSelector(w.Selector); err != nil {
					errs = append(errs, field.Invalid(f.Child("selector"), "", err.Error()))
				}
			}
			if w.Soak != nil {
				if d, err := w.Soak.Parse(); err != nil {
					errs = append(errs, field.Invalid(f.Child("soak"), printable(string(*w.Soak)), "must be a duration such as 10m or 1h"))
				} else if d < 0 {
					errs = append(errs, field.Invalid(f.Child("soak"), string(*w.Soak), "must not be negative"))
				}
			}
		}
	}
	return errs
}

// IsCheckName reports whether name may name a check executable: a file
// name in the checks directory, never a path, an option or a command line.
func IsCheckName(name string) bool {
	return len(name) > 0 && len(name) <= MaxCheckNameLength && checkName.MatchString(name)
}

func validateHealthCheck(hc *HealthCheckSpec, fld *field.Path) field.ErrorList {
	if hc == nil {
		return nil
	}
	var errs field.ErrorList
	switch {
	case hc.HTTPGet == nil && hc.Exec == nil:
		errs = append(errs, field.Required(fld, "a health check needs httpGet (a URL) or exec (a check name)"))
	case hc.HTTPGet != nil && hc.Exec != nil:
		errs = append(errs, field.Invalid(fld, "", "a health check has either httpGet or exec, not both"))
	case hc.HTTPGet != nil:
		errs = append(errs, validateCheckURL(hc.HTTPGet.URL, fld.Child("httpGet", "url"))...)
	default:
		f := fld.Child("exec", "name")
		n := hc.Exec.Name
		switch {
		case n == "":
			errs = append(errs, field.Required(f, "the name of an executable in the checks directory is required"))
		case len(n) > MaxCheckNameLength:
			errs = append(errs, field.TooLong(f, "", MaxCheckNameLength))
		case !checkName.MatchString(n):
			errs = append(errs, field.Invalid(f, printable(n),
				"must be a file name in the checks directory: ASCII letters, digits, . _ -, not starting with . or -; never a path or a command line"))
		}
	}
	durs := []struct {
		v    *Duration
		name string
		max  time.Duration
	}{{hc.Timeout, "timeout", MaxHealthTimeout}, {hc.Interval, "interval", MaxHealthInterval}}
	for _, d := range durs {
		if d.v == nil {
			continue
		}
		v, err := d.v.Parse()
		if err != nil || v <= 0 || v > d.max {
			errs = append(errs, field.Invalid(fld.Child(d.name), printable(string(*d.v)),
				fmt.Sprintf("must be a duration more than 0s and at most %s, such as 10s", shortDuration(d.max))))
		}
	}
	if t := hc.FailureThreshold; t < 0 || t > MaxHealthFailureThreshold {
		errs = append(errs, field.Invalid(fld.Child("failureThreshold"), t, fmt.Sprintf("must be between 1 and %d", MaxHealthFailureThreshold)))
	}
	return errs
}

func shortDuration(d time.Duration) string {
	s := d.String()
	s = strings.TrimSuffix(s, "0s")
	return strings.TrimSuffix(s, "0m")
}

func validateCheckURL(raw string, f *field.Path) field.ErrorList {
	if raw == "" {
		return field.ErrorList{field.Required(f, "an http or https URL is required")}
	}
	if len(raw) > MaxCheckURLLength {
		return field.ErrorList{field.TooLong(f, "", MaxCheckURLLength)}
	}
	for _, r := range raw {
		if r <= ' ' || r >= 0x7f {
			return field.ErrorList{field.Invalid(f, printable(raw), "must be printable ASCII without spaces")}
		}
	}
	u, err := url.Parse(raw)
	switch {
	case err != nil:
		return field.ErrorList{field.Invalid(f, printable(raw), "must be a URL: "+err.Error())}
	case u.Scheme != "http" && u.Scheme != "https":
		return field.ErrorList{field.Invalid(f, printable(raw), "must be an http or https URL")}
	case u.Host == "" || u.Hostname() == "":
		return field.ErrorList{field.Invalid(f, printable(raw), "must name a host, e.g. http://127.0.0.1:8080/healthz")}
	case u.User != nil:
		return field.ErrorList{field.Invalid(f, "(redacted)", "must not carry credentials: the policy is readable by every viewer")}
	}
	return nil
}

func validatePackageName(name string, fld *field.Path) field.ErrorList {
	switch {
	case name == "":
		return field.ErrorList{field.Required(fld, "a package name is required")}
	case len(name) > MaxPackageNameLength:
		return field.ErrorList{field.TooLong(fld, "", MaxPackageNameLength)}
	case !IsPackageName("", name):
		return field.ErrorList{field.Invalid(fld, printable(name),
			"must start with a letter, digit, @, _ or +, contain only ASCII letters, digits and . _ + @ -, and not end with -")}
	}
	return nil
}

// wellFormedGlob reports whether path.Match can use g: an unclosed or empty
// bracket expression would otherwise fail only when the policy is applied.
func wellFormedGlob(g string) bool {
	_, err := path.Match(g, "")
	return err == nil
}

func validateIntOrPercent(v *intstr.IntOrString, fld *field.Path, min int) field.ErrorList {
	if v == nil {
		return nil
	}
	if v.Type == intstr.Int {
		if v.IntValue() < min {
			return field.ErrorList{field.Invalid(fld, v.IntValue(), fmt.Sprintf("must be at least %d", min))}
		}
		return nil
	}
	s := v.StrVal
	var n int
	if _, err := fmt.Sscanf(s, "%d%%", &n); err != nil || fmt.Sprintf("%d%%", n) != s || n < min || n > 100 {
		return field.ErrorList{field.Invalid(fld, printable(s), fmt.Sprintf("must be an integer or a percentage between %d%% and 100%%", min))}
	}
	return nil
}

// ValidateTimeWindow checks a recurring window.
func ValidateTimeWindow(w *TimeWindow, fld *field.Path) field.ErrorList {
	var errs field.ErrorList
	seen := map[Weekday]bool{}
	for i, d := range w.Days {
		if _, ok := weekdays[d]; !ok {
			errs = append(errs, field.NotSupported(fld.Child("days").Index(i), d,
				[]string{"Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"}))
		} else if seen[d] {
			errs = append(errs, field.Duplicate(fld.Child("days").Index(i), d))
		}
		seen[d] = true
	}
	if !clockTime.MatchString(w.Start) {
		errs = append(errs, field.Invalid(fld.Child("start"), printable(w.Start), "must be a 24-hour time HH:MM"))
	}
	if d, err := w.Duration.Parse(); err != nil {
		errs = append(errs, field.Invalid(fld.Child("duration"), printable(string(w.Duration)), "must be a duration such as 2h, 90m or 1h30m"))
	} else if d <= 0 || d > MaxWindowDuration {
		errs = append(errs, field.Invalid(fld.Child("duration"), string(w.Duration), "must be positive and at most 168h"))
	}
	if w.TimeZone != "" {
		// "Local" is Go's name for the agent's own zone, not an IANA name: the
		// same policy would open its window at different instants on each host.
		if strings.HasPrefix(w.TimeZone, "/") || strings.Contains(w.TimeZone, "..") || w.TimeZone == "Local" {
			errs = append(errs, field.Invalid(fld.Child("timeZone"), printable(w.TimeZone), "must be an IANA time zone name"))
		} else if _, err := time.LoadLocation(w.TimeZone); err != nil {
			errs = append(errs, field.Invalid(fld.Child("timeZone"), printable(w.TimeZone), "unknown IANA time zone"))
		}
	}
	return errs
}

// Validate checks a Host.
func (h *Host) Validate() field.ErrorList {
	return validateMeta(&h.ObjectMeta, field.NewPath("metadata"))
}

// Validate checks an Operation.
func (o *Operation) Validate() field.ErrorList {
	errs := validateMeta(&o.ObjectMeta, field.NewPath("metadata"))
	if len(o.Spec.Argv) == 0 {
		errs = append(errs, field.Required(field.NewPath("spec", "argv"), "an operation runs a command"))
	}
	return errs
}

// printable shortens a hostile value for an error message: at most 64
// characters, control characters escaped.
func printable(s string) string {
	const max = 64
	q := fmt.Sprintf("%q", s)
	q = q[1 : len(q)-1]
	if len(q) > max {
		q = q[:max] + fmt.Sprintf("… (%d bytes)", len(s))
	}
	return q
}
