package ontap

import (
	"slices"
	"time"
)

// LongestInterval is the longest time between two consecutive firings of the cron schedule,
// found by walking two years of its firings (every pattern of months, days and weekdays
// repeats within that span, leap days aside). It is false for a schedule that never fires.
//
// When both days and weekdays are given, a minute must match both: how ONTAP combines them
// is UNCONFIRMED (Unix cron takes either); requiring both can only lengthen the interval.
func (c *Cron) LongestInterval() (time.Duration, bool) {
	in := func(list []int, v int) bool { return len(list) == 0 || slices.Contains(list, v) }
	minutes, hours := c.Minutes, c.Hours
	if len(minutes) == 0 {
		minutes = seq(60)
	}
	if len(hours) == 0 {
		hours = seq(24)
	}
	minutes, hours = slices.Sorted(slices.Values(minutes)), slices.Sorted(slices.Values(hours))
	// Any start will do; the time zone does not matter, as UTC has no skipped hours.
	start := time.Date(2024, time.January, 1, 0, 0, 0, 0, time.UTC)
	var last time.Time
	var longest time.Duration
	for day := start; day.Before(start.AddDate(2, 0, 0)); day = day.AddDate(0, 0, 1) {
		if !in(c.Months, int(day.Month())) || !in(c.Days, day.Day()) || !in(c.Weekdays, int(day.Weekday())) {
			continue
		}
		for _, h := range hours {
			for _, m := range minutes {
				if h < 0 || h > 23 || m < 0 || m > 59 {
					continue
				}
				at := day.Add(time.Duration(h)*time.Hour + time.Duration(m)*time.Minute)
				if !last.IsZero() {
					longest = max(longest, at.Sub(last))
				}
				last = at
			}
		}
	}
	return longest, longest > 0
}

func seq(n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = i
	}
	return out
}
