package reconcile

import (
	"fmt"
	"strconv"
	"time"
	// The agent must understand every IANA zone a policy may name, also on a
	// minimal host without /usr/share/zoneinfo.
	_ "time/tzdata"

	"github.com/patchlet/patchlet/api/v1alpha1"
)

// maxCloseExtensions bounds the search for the end of a window whose
// occurrences overlap or touch (e.g. every day for 24h): such a window is
// reported to close at the latest after this many merged occurrences.
const maxCloseExtensions = 64

// window is a parsed v1alpha1.TimeWindow.
type window struct {
	days     map[time.Weekday]bool // empty: every day
	hour     int
	minute   int
	duration time.Duration
	loc      *time.Location
}

func parseWindow(w v1alpha1.TimeWindow) (window, error) {
	var p window
	var herr, merr error
	if len(w.Start) == 5 && w.Start[2] == ':' {
		p.hour, herr = strconv.Atoi(w.Start[:2])
		p.minute, merr = strconv.Atoi(w.Start[3:])
	}
	if len(w.Start) != 5 || w.Start[2] != ':' || herr != nil || merr != nil ||
		p.hour < 0 || p.hour > 23 || p.minute < 0 || p.minute > 59 {
		return window{}, fmt.Errorf("window start %q is not HH:MM", w.Start)
	}
	d, err := w.Duration.Parse()
	if err != nil || d <= 0 {
		return window{}, fmt.Errorf("window duration %q is not a positive duration", w.Duration)
	}
	p.duration = d
	zone := w.TimeZone
	if zone == "" {
		zone = v1alpha1.DefaultTimeZone
	}
	loc, err := time.LoadLocation(zone)
	if err != nil {
		return window{}, fmt.Errorf("window time zone %q: %w", zone, err)
	}
	p.loc = loc
	p.days = map[time.Weekday]bool{}
	for _, d := range w.Days {
		wd, ok := v1alpha1.ParseWeekday(d)
		if !ok {
			return window{}, fmt.Errorf("window day %q is not a weekday", d)
		}
		p.days[wd] = true
	}
	return p, nil
}

// opensOn reports whether the window opens on the local calendar date.
func (p window) opensOn(y int, m time.Month, d int) bool {
	if len(p.days) == 0 {
		return true
	}
	return p.days[time.Date(y, m, d, 0, 0, 0, 0, time.UTC).Weekday()]
}

// start returns the instant the window opens on a local calendar date.
//
// Daylight saving time: a start time that occurs twice (the autumn change)
// opens at its first occurrence; a start time that does not exist (the
// spring change) is read in the offset in force before the change, so
// "02:30" in Europe/Berlin on the March change day opens at 03:30 CEST.
// Both cases follow one rule: use the offset in force before the change.
func (p window) start(y int, m time.Month, d int) time.Time {
	naive := time.Date(y, m, d, p.hour, p.minute, 0, 0, time.UTC)
	_, before := naive.Add(-24 * time.Hour).In(p.loc).Zone()
	_, after := naive.Add(24 * time.Hour).In(p.loc).Zone()
	var found time.Time
	for _, off := range []int{before, after} {
		u := naive.Add(-time.Duration(off) * time.Second)
		if _, o := u.In(p.loc).Zone(); o == off && (found.IsZero() || u.Before(found)) {
			found = u
		}
	}
	if found.IsZero() {
		found = naive.Add(-time.Duration(before) * time.Second)
	}
	return found
}

// lookback is how many local days before t an occurrence still open at t
// may have started.
func (p window) lookback() int {
	return int(p.duration/(24*time.Hour)) + 2
}

// occurrenceAt returns the end of the occurrence open at t with the latest
// end, and whether there is one.
func (p window) occurrenceAt(t time.Time) (time.Time, bool) {
	y, m, d := t.In(p.loc).Date()
	var end time.Time
	for k := -p.lookback(); k <= 1; k++ {
		if !p.opensOn(y, m, d+k) {
			continue
		}
		s := p.start(y, m, d+k)
		e := s.Add(p.duration)
		if !s.After(t) && t.Before(e) && e.After(end) {
			end = e
		}
	}
	return end, !end.IsZero()
}

func (p window) nextOpen(t time.Time) time.Time {
	if _, open := p.occurrenceAt(t); open {
		return t
	}
	y, m, d := t.In(p.loc).Date()
	for k := 0; k <= 8; k++ {
		if !p.opensOn(y, m, d+k) {
			continue
		}
		if s := p.start(y, m, d+k); s.After(t) {
			return s
		}
	}
	return time.Time{}
}

func (p window) nextClose(t time.Time) time.Time {
	t = p.nextOpen(t)
	if t.IsZero() {
		return t
	}
	end, _ := p.occurrenceAt(t)
	// Occurrences that start before or exactly when this one ends keep the
	// window open; follow them.
	for range maxCloseExtensions {
		next, open := p.occurrenceAt(end)
		if !open || !next.After(end) {
			break
		}
		end = next
	}
	return end
}

// Contains reports whether the window is open at t: some occurrence started
// at or before t and ends after t. An occurrence may have started on an
// earlier day (a window running past midnight). Durations are elapsed time,
// so a 3h window starting at 01:00 on a DST change day still lasts 3 hours.
// An invalid window (one validation would reject) is never open.
func Contains(w v1alpha1.TimeWindow, t time.Time) bool {
	p, err := parseWindow(w)
	if err != nil {
		return false
	}
	_, open := p.occurrenceAt(t)
	return open
}

// NextOpen returns t when the window is open at t, else the instant it next
// opens. It returns the zero time for an invalid window.
func NextOpen(w v1alpha1.TimeWindow, t time.Time) time.Time {
	p, err := parseWindow(w)
	if err != nil {
		return time.Time{}
	}
	return p.nextOpen(t)
}

// NextClose returns when the window open at t closes or, when it is closed
// at t, when its next opening closes. Overlapping or touching occurrences
// count as one opening. It returns the zero time for an invalid window.
func NextClose(w v1alpha1.TimeWindow, t time.Time) time.Time {
	p, err := parseWindow(w)
	if err != nil {
		return time.Time{}
	}
	return p.nextClose(t)
}

// FormatWindowTime renders an instant in the window's own time zone for a
// status message, e.g. "Mon 01:00 CET".
func FormatWindowTime(w v1alpha1.TimeWindow, t time.Time) string {
	p, err := parseWindow(w)
	if err != nil || t.IsZero() {
		return t.UTC().Format(time.RFC3339)
	}
	return t.In(p.loc).Format("Mon 2006-01-02 15:04 MST")
}
