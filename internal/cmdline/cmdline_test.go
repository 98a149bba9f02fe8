package cmdline

import "testing"

func TestParseQuantity(t *testing.T) {
	for _, tc := range []struct {
		in     string
		binary bool
		want   int64
	}{
		{"0", false, 0}, {"1_000", false, 1000}, {"5k", false, 5000}, {"10M", false, 10_000_000},
		{"2G", false, 2_000_000_000}, {"100", true, 100}, {"100B", true, 100}, {"1KiB", true, 1024},
		{"1K", true, 1024}, {"64MiB", true, 64 << 20}, {"1MB", true, 1 << 20}, {"1GiB", true, 1 << 30},
	} {
		got, err := ParseQuantity(tc.in, tc.binary)
		if err != nil || got != tc.want {
			t.Errorf("ParseQuantity(%q, %v) = %d, %v; want %d", tc.in, tc.binary, got, err, tc.want)
		}
	}
	for _, in := range []string{"", "-1", "1.5M", "M", "1T", "99999999999G"} {
		if v, err := ParseQuantity(in, false); err == nil {
			t.Errorf("ParseQuantity(%q) = %d, want an error", in, v)
		}
	}
}
