package ontap

import (
	"fmt"
	"regexp"
	"strconv"
	"time"
)

var isoDuration = regexp.MustCompile(`^P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?)?$`)

// parseDuration parses the ISO-8601 durations ONTAP reports, e.g. "PT8H35M42S" or "P1DT2H".
// Years, months and weeks, which ONTAP does not use for lag and transfer times, are refused.
func parseDuration(s string) (time.Duration, error) {
	m := isoDuration.FindStringSubmatch(s)
	if m == nil || s == "P" || s == "PT" {
		return 0, fmt.Errorf("ISO-8601 duration %q: want P[nD][T[nH][nM][nS]]", s)
	}
	var d time.Duration
	for i, unit := range []time.Duration{24 * time.Hour, time.Hour, time.Minute} {
		if m[i+1] != "" {
			n, err := strconv.ParseInt(m[i+1], 10, 64)
			if err != nil {
				return 0, fmt.Errorf("ISO-8601 duration %q: %w", s, err)
			}
			d += time.Duration(n) * unit
		}
	}
	if m[4] != "" {
		f, err := strconv.ParseFloat(m[4], 64)
		if err != nil {
			return 0, fmt.Errorf("ISO-8601 duration %q: %w", s, err)
		}
		d += time.Duration(f * float64(time.Second))
	}
	return d, nil
}

// FormatDuration writes d as an ISO-8601 duration the way ONTAP does, e.g. "PT1H2M3S".
func FormatDuration(d time.Duration) string {
	d = d.Round(time.Second)
	days, d := d/(24*time.Hour), d%(24*time.Hour)
	h, d := d/time.Hour, d%time.Hour
	m, d := d/time.Minute, d%time.Minute
	s := d / time.Second
	out := "P"
	if days > 0 {
		out += strconv.FormatInt(int64(days), 10) + "D"
	}
	if h == 0 && m == 0 && s == 0 && days > 0 {
		return out
	}
	out += "T"
	if h > 0 {
		out += strconv.FormatInt(int64(h), 10) + "H"
	}
	if m > 0 {
		out += strconv.FormatInt(int64(m), 10) + "M"
	}
	if s > 0 || (h == 0 && m == 0) {
		out += strconv.FormatInt(int64(s), 10) + "S"
	}
	return out
}
