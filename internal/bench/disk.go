package bench

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"sync"
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

// pageCacheResult is what writing to the page cache costs on this machine:
// measurePageCache's CPU per GB, the floor under any broker's produce CPU
// (every broker copies what it stores into the page cache).
type pageCacheResult struct {
	Dir             string  `json:"dir"`
	Bytes           int64   `json:"bytes"`
	Seconds         float64 `json:"seconds"`
	CPUSeconds      float64 `json:"cpu_seconds"`
	CPUSecondsPerGB float64 `json:"cpu_seconds_per_gb"`
	// BrokerRatio is the produce phase's broker CPU per GB over
	// CPUSecondsPerGB.
	BrokerRatio float64 `json:"broker_ratio,omitempty"`
}

// measurePageCache writes n bytes (rounded up to 1 MiB) to a new temporary
// file in dir in 1 MiB writes, as a broker appends batches, and returns
// the CPU (user and system) the writing thread spent per GB. The file is
// removed. Nothing is fsynced: it measures the copy into the page cache
// and the file system's bookkeeping, which the kernel charges to the
// writer.
func measurePageCache(ctx context.Context, dir string, n int64) (*pageCacheResult, error) {
	f, err := os.CreateTemp(dir, "sluice-bench-pagecache-")
	if err != nil {
		return nil, fmt.Errorf("measuring the page cache: %w", err)
	}
	defer os.Remove(f.Name())
	defer f.Close()
	buf := chunk()
	// The thread's own CPU time: the write loop stays on one thread.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	cpu0, err := threadCPU()
	if err != nil {
		return nil, fmt.Errorf("measuring the page cache: %w", err)
	}
	start := time.Now()
	var written int64
	for written < n {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		w, err := f.Write(buf)
		written += int64(w)
		if err != nil {
			return nil, fmt.Errorf("measuring the page cache: %w", err)
		}
	}
	cpu1, err := threadCPU()
	if err != nil {
		return nil, fmt.Errorf("measuring the page cache: %w", err)
	}
	cpu := (cpu1 - cpu0).Seconds()
	return &pageCacheResult{Dir: dir, Bytes: written, Seconds: time.Since(start).Seconds(), CPUSeconds: cpu,
		CPUSecondsPerGB: cpu / (float64(written) / 1e9)}, nil
}

// diskChunk is the size of each write of the disk and page cache
// measurements.
const diskChunk = 1 << 20

// chunk is a diskChunk of bytes that no file system compresses or skips.
func chunk() []byte {
	buf := make([]byte, diskChunk)
	for i := range buf {
		buf[i] = byte(i*131 + i>>8)
	}
	return buf
}

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
	buf := chunk()
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

// syncLatencyResult is the disk's own fdatasync latency at the latency
// phase's rate and shape, measured by measureSyncLatency in the same run
// as a --fsync --rate benchmark: the floor under the broker's ack latency.
type syncLatencyResult struct {
	Dir   string          `json:"dir"`
	Files int             `json:"files"` // one writer each, as the topic's partitions
	Rate  int             `json:"rate"`  // writes+fdatasyncs per second over all files
	Size  int             `json:"size"`  // bytes of each write
	Sync  *latencySummary `json:"fdatasync_ms"`
}

// measureSyncLatency appends size bytes to each of files new files in dir,
// an fdatasync after each write, rate times a second in all (spread evenly
// over the files), for d, and returns the fdatasync latencies. The files
// are removed.
func measureSyncLatency(ctx context.Context, dir string, files, rate, size int, d time.Duration) (*syncLatencyResult, error) {
	res := &syncLatencyResult{Dir: dir, Files: files, Rate: rate, Size: size}
	hists := make([]histogram, files)
	errs := make([]error, files)
	per := float64(rate) / float64(files) // writes a second for each file
	n := max(int(per*d.Seconds()), 1)
	var wg sync.WaitGroup
	for i := range files {
		wg.Go(func() {
			errs[i] = syncWriter(ctx, dir, size, n, per, &hists[i])
		})
	}
	wg.Wait()
	var all histogram
	for i := range files {
		if errs[i] != nil {
			return nil, fmt.Errorf("measuring the disk's fdatasync latency: %w", errs[i])
		}
		all.merge(&hists[i])
	}
	res.Sync = all.summary()
	return res, nil
}

// syncWriter is one file of measureSyncLatency: n writes, per a second.
func syncWriter(ctx context.Context, dir string, size, n int, per float64, h *histogram) error {
	f, err := os.CreateTemp(dir, "sluice-bench-sync-")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	defer f.Close()
	buf := make([]byte, size)
	start := time.Now()
	for i := range n {
		if wait := time.Until(start.Add(time.Duration(float64(i) / per * 1e9))); wait > 0 {
			t := time.NewTimer(wait)
			select {
			case <-ctx.Done():
				t.Stop()
				return ctx.Err()
			case <-t.C:
			}
		}
		if _, err := f.Write(buf); err != nil {
			return err
		}
		t0 := time.Now()
		if err := fdatasync(f); err != nil {
			return err
		}
		h.record(int64(time.Since(t0)))
	}
	return nil
}
