// Package cmdline holds the small flag and formatting helpers that the sluice
// commands share (internal/cli's client commands and internal/bench), so that
// neither has to import the other.
package cmdline

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/twmb/franz-go/pkg/kgo"
)

// MultiFlag is a repeatable string flag: each occurrence appends its value.
type MultiFlag []string

// String joins the values with commas.
func (m *MultiFlag) String() string { return strings.Join(*m, ",") }

// Set appends v.
func (m *MultiFlag) Set(v string) error { *m = append(*m, v); return nil }

// Plural returns "s" unless n is 1, for "%d record%s".
func Plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

// CompressionCodec maps a --compression value (none, gzip, snappy, lz4,
// zstd) to franz-go's codec.
func CompressionCodec(name string) (kgo.CompressionCodec, error) {
	switch name {
	case "none":
		return kgo.NoCompression(), nil
	case "gzip":
		return kgo.GzipCompression(), nil
	case "snappy":
		return kgo.SnappyCompression(), nil
	case "lz4":
		return kgo.Lz4Compression(), nil
	case "zstd":
		return kgo.ZstdCompression(), nil
	}
	return kgo.CompressionCodec{}, fmt.Errorf("--compression %q: want none, gzip, snappy, lz4 or zstd", name)
}

// ParseQuantity parses a non-negative integer with an optional suffix: k, M
// and G are powers of 1000 for counts; for sizes (binary) K, M, G, KiB, MiB,
// GiB (and KB, MB, GB) are powers of 1024 and a trailing B is allowed.
// Underscores may separate digits.
func ParseQuantity(s string, binary bool) (int64, error) {
	t := strings.ReplaceAll(strings.TrimSpace(s), "_", "")
	mult := int64(1)
	if binary {
		t = strings.TrimSuffix(strings.TrimSuffix(t, "iB"), "B")
	}
	if n := len(t); n > 0 {
		var base int64 = 1000
		if binary {
			base = 1024
		}
		switch t[n-1] {
		case 'k', 'K':
			mult = base
		case 'M':
			mult = base * base
		case 'G':
			mult = base * base * base
		}
		if mult > 1 {
			t = t[:n-1]
		}
	}
	v, err := strconv.ParseInt(t, 10, 64)
	if err != nil || v < 0 {
		return 0, fmt.Errorf("%q: want a non-negative integer", s)
	}
	if v > math.MaxInt64/mult {
		return 0, fmt.Errorf("%q: too large", s)
	}
	return v * mult, nil
}
