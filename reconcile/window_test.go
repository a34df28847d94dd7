package reconcile_test

import (
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/patchlet/patchlet/api/v1alpha1"
	"github.com/patchlet/patchlet/reconcile"
)

const berlin = "Europe/Berlin"

var _ = Describe("Time windows", func() {
	// 2026-11-23 is a Monday; Berlin is on CET (UTC+1) then.
	monNight := win("01:00", 3*time.Hour, berlin, "Mon", "Tue", "Wed", "Thu")
	sundayLate := win("22:00", 4*time.Hour, "UTC", "Sun")

	DescribeTable("Contains",
		func(w v1alpha1.TimeWindow, at string, want bool) {
			Expect(reconcile.Contains(w, utc(at))).To(Equal(want))
		},
		Entry("inside a Berlin window (01:30 CET)", monNight, "2026-11-23T00:30:00Z", true),
		Entry("exactly at the opening", monNight, "2026-11-23T00:00:00Z", true),
		Entry("one minute before the opening", monNight, "2026-11-22T23:59:00Z", false),
		Entry("exactly at the closing (end is exclusive)", monNight, "2026-11-23T03:00:00Z", false),
		Entry("on a day the window does not open (Sat)", monNight, "2026-11-21T00:30:00Z", false),
		Entry("opening time in UTC is not opening time in Berlin", monNight, "2026-11-23T02:59:00Z", true),
		Entry("past midnight: started yesterday and still open", sundayLate, "2026-11-23T01:00:00Z", true),
		Entry("past midnight: closed after duration", sundayLate, "2026-11-23T02:00:00Z", false),
		Entry("past midnight: Monday evening is not Sunday", sundayLate, "2026-11-23T23:00:00Z", false),
		Entry("no days means every day", win("12:00", time.Hour, "UTC"), "2026-11-25T12:30:00Z", true),
		Entry("a window of several days spans them", win("00:00", 72*time.Hour, "UTC", "Fri"), "2026-11-22T23:00:00Z", true),
		Entry("an empty time zone is UTC", win("12:00", time.Hour, ""), "2026-11-25T12:30:00Z", true),
		Entry("an invalid start never opens", win("25:00", time.Hour, "UTC"), "2026-11-25T12:30:00Z", false),
		Entry("an unknown zone never opens", win("12:00", time.Hour, "Mars/Olympus"), "2026-11-25T12:30:00Z", false),

		// Spring forward: 2026-03-29 02:00 CET becomes 03:00 CEST (01:00 UTC).
		Entry("DST spring: 01:00 CET start, 3h elapsed, open at 04:30 CEST",
			win("01:00", 3*time.Hour, berlin, "Sun"), "2026-03-29T02:30:00Z", true),
		Entry("DST spring: 01:00 CET start, 3h elapsed, closed at 05:00 CEST",
			win("01:00", 3*time.Hour, berlin, "Sun"), "2026-03-29T03:00:00Z", false),
		Entry("DST spring: nonexistent 02:30 is not yet open at 03:00 CEST",
			win("02:30", time.Hour, berlin), "2026-03-29T01:00:00Z", false),
		Entry("DST spring: nonexistent 02:30 opens at 03:30 CEST",
			win("02:30", time.Hour, berlin), "2026-03-29T01:30:00Z", true),
		Entry("DST spring: the day after opens at 02:30 CEST",
			win("02:30", time.Hour, berlin), "2026-03-30T00:30:00Z", true),
		Entry("DST spring: the day after, 02:30 CET would be wrong",
			win("02:30", time.Hour, berlin), "2026-03-30T01:30:00Z", false),

		// Fall back: 2026-10-25 03:00 CEST becomes 02:00 CET (01:00 UTC).
		Entry("DST autumn: twice-occurring 02:30 opens at its first occurrence (CEST)",
			win("02:30", time.Hour, berlin), "2026-10-25T00:30:00Z", true),
		Entry("DST autumn: and does not open again at the second (CET)",
			win("02:30", time.Hour, berlin), "2026-10-25T01:45:00Z", false),
		Entry("DST autumn: Sun 02:00 2h reboot window is open at 02:30 CET",
			win("02:00", 2*time.Hour, berlin, "Sun"), "2026-10-25T01:30:00Z", true),
		Entry("DST autumn: Sun 02:00 2h reboot window closes after 2 real hours",
			win("02:00", 2*time.Hour, berlin, "Sun"), "2026-10-25T02:00:00Z", false),
		Entry("DST autumn: the day after opens at 02:30 CET",
			win("02:30", time.Hour, berlin), "2026-10-26T01:30:00Z", true),
	)

	DescribeTable("NextOpen",
		func(w v1alpha1.TimeWindow, at, want string) {
			Expect(reconcile.NextOpen(w, utc(at))).To(BeTemporally("==", utc(want)))
		},
		Entry("open now: now", monNight, "2026-11-23T01:00:00Z", "2026-11-23T01:00:00Z"),
		Entry("Saturday: Monday 01:00 CET", monNight, "2026-11-21T12:00:00Z", "2026-11-23T00:00:00Z"),
		Entry("just closed Thursday: next Monday", monNight, "2026-11-26T03:00:00Z", "2026-11-30T00:00:00Z"),
		Entry("later the same day", win("18:00", time.Hour, "UTC"), "2026-11-23T09:00:00Z", "2026-11-23T18:00:00Z"),
		Entry("across the March switch: 02:30 on the switch day is 01:30Z",
			win("02:30", time.Hour, berlin), "2026-03-28T23:00:00Z", "2026-03-29T01:30:00Z"),
		Entry("across the October switch: first 02:30 (CEST) is 00:30Z",
			win("02:30", time.Hour, berlin), "2026-10-24T23:00:00Z", "2026-10-25T00:30:00Z"),
		Entry("a weekly window from just after it closed: a week later",
			sundayLate, "2026-11-23T02:00:00Z", "2026-11-29T22:00:00Z"),
	)

	It("returns the zero time for an invalid window", func() {
		Expect(reconcile.NextOpen(win("7pm", time.Hour, "UTC"), utc("2026-11-23T00:00:00Z")).IsZero()).To(BeTrue())
		Expect(reconcile.NextClose(win("7pm", time.Hour, "UTC"), utc("2026-11-23T00:00:00Z")).IsZero()).To(BeTrue())
	})

	DescribeTable("NextClose",
		func(w v1alpha1.TimeWindow, at, want string) {
			Expect(reconcile.NextClose(w, utc(at))).To(BeTemporally("==", utc(want)))
		},
		Entry("open now: its end", monNight, "2026-11-23T01:00:00Z", "2026-11-23T03:00:00Z"),
		Entry("closed: the end of the next opening", monNight, "2026-11-21T12:00:00Z", "2026-11-23T03:00:00Z"),
		Entry("started yesterday: today's end", sundayLate, "2026-11-23T01:00:00Z", "2026-11-23T02:00:00Z"),
		Entry("touching occurrences merge (Mon and Tue 24h)",
			win("00:00", 24*time.Hour, "UTC", "Mon", "Tue"), "2026-11-23T05:00:00Z", "2026-11-25T00:00:00Z"),
		Entry("DST spring: 3h after 01:00 CET is 05:00 CEST",
			win("01:00", 3*time.Hour, berlin, "Sun"), "2026-03-29T00:30:00Z", "2026-03-29T03:00:00Z"),
	)

	It("bounds the close of a window that never closes", func() {
		always := win("00:00", 7*24*time.Hour, "UTC")
		now := utc("2026-11-23T05:00:00Z")
		end := reconcile.NextClose(always, now)
		Expect(end).To(BeTemporally(">", now.Add(7*24*time.Hour)))
		Expect(reconcile.Contains(always, end.Add(-time.Minute))).To(BeTrue())
	})

	It("renders times in the window's own zone", func() {
		Expect(reconcile.FormatWindowTime(monNight, utc("2026-11-23T00:00:00Z"))).To(Equal("Mon 2026-11-23 01:00 CET"))
	})
})
