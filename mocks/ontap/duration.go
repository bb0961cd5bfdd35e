package ontap

import (
	"regexp"
	"strconv"
	"time"
)

// isoDuration writes d as ONTAP writes durations (lag_time, total_transfer_duration,
// total_duration, delta.time_elapsed): ISO-8601, whole seconds, days as the largest unit and
// zero parts left out, e.g. "PT1H2M3S", "P1DT2H", "P1D"; no time at all is "PT0S".
// ONTAP never reports a negative duration: one (a clock set back) is written as "PT0S".
func isoDuration(d time.Duration) string {
	secs := max(int64(d.Round(time.Second)/time.Second), 0)
	days, rest := secs/86400, secs%86400
	out := "P"
	if days > 0 {
		out += strconv.FormatInt(days, 10) + "D"
		if rest == 0 {
			return out
		}
	}
	if rest == 0 {
		return "PT0S"
	}
	out += "T"
	for _, p := range []struct {
		n    int64
		unit string
	}{{rest / 3600, "H"}, {rest / 60 % 60, "M"}, {rest % 60, "S"}} {
		if p.n > 0 {
			out += strconv.FormatInt(p.n, 10) + p.unit
		}
	}
	return out
}

var isoDurationForm = regexp.MustCompile(`^P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?)?$`)

// parseISODuration reads an ISO-8601 duration as ONTAP's filters take them: days, hours,
// minutes and seconds, any part left out ("P1D", "PT10H", "P2DT", "P1DT2H3M4S").
func parseISODuration(s string) (time.Duration, bool) {
	m := isoDurationForm.FindStringSubmatch(s)
	if m == nil || s == "P" || s == "PT" {
		return 0, false
	}
	var d time.Duration
	for i, unit := range []time.Duration{24 * time.Hour, time.Hour, time.Minute, time.Second} {
		if m[i+1] != "" {
			n, err := strconv.ParseInt(m[i+1], 10, 64)
			if err != nil {
				return 0, false
			}
			d += time.Duration(n) * unit
		}
	}
	return d, true
}
