package bench

import (
	"context"
	"fmt"
	"os"
	"time"
)

// diskResult is the disk's own durable write speed, measured by
// measureDisk in the same run as a --fsync benchmark.
type diskResult struct {
	Dir      string  `json:"dir"`
	Chunks   int     `json:"chunks"` // 1 MiB writes, each followed by an fdatasync
	Seconds  float64 `json:"seconds"`
	MBPerSec float64 `json:"mb_per_sec"`
	// ProduceRatio is the produce phase's MB/s over MBPerSec.
	ProduceRatio float64 `json:"produce_ratio,omitempty"`
}

// diskChunk is the size of each durable write of the disk measurement.
const diskChunk = 1 << 20

// measureDisk writes a temporary file in dir in 1 MiB chunks, each
// followed by an fdatasync, for about d (at least 8 chunks, at most 1 GiB),
// and returns the speed. The file is removed.
func measureDisk(ctx context.Context, dir string, d time.Duration) (*diskResult, error) {
	f, err := os.CreateTemp(dir, "sluice-bench-disk-")
	if err != nil {
		return nil, fmt.Errorf("measuring the disk: %w", err)
	}
	defer os.Remove(f.Name())
	defer f.Close()
	buf := make([]byte, diskChunk)
	for i := range buf {
		buf[i] = byte(i*131 + i>>8)
	}
	start := time.Now()
	n := 0
	for ; n < 1024 && (n < 8 || time.Since(start) < d); n++ {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if _, err := f.Write(buf); err != nil {
			return nil, fmt.Errorf("measuring the disk: %w", err)
		}
		if err := fdatasync(f); err != nil {
			return nil, fmt.Errorf("measuring the disk: %w", err)
		}
	}
	sec := time.Since(start).Seconds()
	return &diskResult{Dir: dir, Chunks: n, Seconds: sec, MBPerSec: float64(n) * diskChunk / 1e6 / sec}, nil
}
