package ontap

import (
	"testing"
	"time"
)

// TestCronLongestInterval: the gap a destination may wait between two scheduled transfers,
// for ONTAP's built-in schedules and a few hand-made ones.
func TestCronLongestInterval(t *testing.T) {
	every := func(step int) []int {
		var out []int
		for i := 0; i < 60; i += step {
			out = append(out, i)
		}
		return out
	}
	cases := []struct {
		name string
		cron Cron
		// want is the longest interval; 0 for a schedule that never fires.
		want time.Duration
	}{
		{"5min", Cron{Minutes: every(5)}, 5 * time.Minute},
		{"15min", Cron{Minutes: every(15)}, 15 * time.Minute},
		{"hourly", Cron{Minutes: []int{5}}, time.Hour},
		{"every minute", Cron{}, time.Minute},
		{"8hour, uneven gaps", Cron{Minutes: []int{15}, Hours: []int{2, 10, 18}}, 8 * time.Hour},
		{"business hours only", Cron{Minutes: []int{0}, Hours: []int{8, 12, 16}}, 16 * time.Hour},
		{"daily", Cron{Minutes: []int{10}, Hours: []int{0}}, 24 * time.Hour},
		{"weekly", Cron{Minutes: []int{15}, Hours: []int{0}, Weekdays: []int{0}}, 7 * 24 * time.Hour},
		{"weekdays only", Cron{Minutes: []int{0}, Hours: []int{1}, Weekdays: []int{1, 2, 3, 4, 5}}, 3 * 24 * time.Hour},
		{"the 31st: August 31 to October 31", Cron{Minutes: []int{0}, Hours: []int{0}, Days: []int{31}}, 61 * 24 * time.Hour},
		{"never: February 30", Cron{Minutes: []int{0}, Hours: []int{0}, Days: []int{30}, Months: []int{2}}, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := tc.cron.LongestInterval()
			if got != tc.want || ok != (tc.want > 0) {
				t.Errorf("got %v, %v; want %v", got, ok, tc.want)
			}
		})
	}
}
