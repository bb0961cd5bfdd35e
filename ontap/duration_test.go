package ontap

import (
	"testing"
	"time"
)

func TestDurations(t *testing.T) {
	for _, tc := range []struct {
		// iso is ONTAP's form, d its value.
		iso string
		d   time.Duration
	}{
		{"PT0S", 0},
		{"PT42S", 42 * time.Second},
		{"PT8H35M42S", 8*time.Hour + 35*time.Minute + 42*time.Second},
		{"P1D", 24 * time.Hour},
		{"P1DT2H3M4S", 26*time.Hour + 3*time.Minute + 4*time.Second},
		{"PT5M", 5 * time.Minute},
	} {
		got, err := parseDuration(tc.iso)
		if err != nil || got != tc.d {
			t.Errorf("parseDuration(%q) = %v, %v; want %v", tc.iso, got, err, tc.d)
		}
		if s := FormatDuration(tc.d); s != tc.iso {
			t.Errorf("FormatDuration(%v) = %q, want %q", tc.d, s, tc.iso)
		}
	}
	if d, err := parseDuration("PT1.5S"); err != nil || d != 1500*time.Millisecond {
		t.Errorf("fractional seconds: %v, %v", d, err)
	}
	for _, bad := range []string{"", "P", "PT", "5m", "P1Y", "PT-1S", "P1W"} {
		if _, err := parseDuration(bad); err == nil {
			t.Errorf("parseDuration(%q) accepted", bad)
		}
	}
}
