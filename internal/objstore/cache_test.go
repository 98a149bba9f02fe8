package objstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

func filled(t *testing.T, n, size int) *memStore {
	s := newMemStore()
	for i := range n {
		if err := s.Put(context.Background(), fmt.Sprintf("o%d", i), bytes.Repeat([]byte{byte(i)}, size)); err != nil {
			t.Fatal(err)
		}
	}
	return s
}

func dirBytes(t *testing.T, dir string) (total int64, files int) {
	t.Helper()
	des, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, de := range des {
		info, err := de.Info()
		if err != nil {
			t.Fatal(err)
		}
		total += info.Size()
		files++
	}
	return total, files
}

func TestCacheMemoryBound(t *testing.T) {
	ctx := context.Background()
	src := filled(t, 20, 2000)
	c, err := NewCache(src, CacheOptions{MemoryBytes: 1000})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 20 {
		b, err := c.Get(ctx, fmt.Sprintf("o%d", i), 100, 100)
		if err != nil || !bytes.Equal(b, bytes.Repeat([]byte{byte(i)}, 100)) {
			t.Fatalf("o%d: %v", i, err)
		}
		if m, _ := c.Size(); m > 1000 {
			t.Fatalf("memory tier at %d bytes, bound 1000", m)
		}
	}
	if src.getCount() != 20 {
		t.Fatalf("%d source reads", src.getCount())
	}
	// The last 10 ranges are cached; the first ones were evicted.
	for i := 10; i < 20; i++ {
		if _, err := c.Get(ctx, fmt.Sprintf("o%d", i), 100, 100); err != nil {
			t.Fatal(err)
		}
	}
	if src.getCount() != 20 {
		t.Fatalf("hits went to the source: %d reads", src.getCount())
	}
	if _, err := c.Get(ctx, "o0", 100, 100); err != nil || src.getCount() != 21 {
		t.Fatalf("evicted range: %v, %d reads", err, src.getCount())
	}
	// A range larger than the bound is served, not kept.
	if b, err := c.Get(ctx, "o1", 0, 1500); err != nil || len(b) != 1500 {
		t.Fatal(err)
	}
	if b, err := c.Get(ctx, "o1", 0, 1500); err != nil || len(b) != 1500 || src.getCount() != 23 {
		t.Fatalf("oversized range: %v, %d reads", err, src.getCount())
	}
	if m, _ := c.Size(); m > 1000 {
		t.Fatalf("memory tier at %d bytes", m)
	}
	// Errors are passed through and not cached.
	if _, err := c.Get(ctx, "missing", 0, 10); !errors.Is(err, ErrNotFound) {
		t.Fatalf("missing: %v", err)
	}
}

func TestCacheDiskBoundAndRestart(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	src := filled(t, 30, 2000)
	reg := prometheus.NewRegistry()
	m, err := NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	const bound = 10_000
	c, err := NewCache(src, CacheOptions{Dir: dir, DiskBytes: bound, Metrics: m})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 30 {
		if _, err := c.Get(ctx, fmt.Sprintf("o%d", i), 0, 1000); err != nil {
			t.Fatal(err)
		}
		if total, _ := dirBytes(t, dir); total > bound {
			t.Fatalf("disk tier at %d bytes, bound %d", total, bound)
		}
	}
	total, files := dirBytes(t, dir)
	if _, d := c.Size(); d != total || files < 5 {
		t.Fatalf("accounted %d bytes, directory holds %d in %d files", d, total, files)
	}
	reads := src.getCount()
	if b, err := c.Get(ctx, "o29", 0, 1000); err != nil || !bytes.Equal(b, bytes.Repeat([]byte{29}, 1000)) || src.getCount() != reads {
		t.Fatalf("disk hit: %v, %d reads", err, src.getCount()-reads)
	}
	if n := counter(t, reg, "sluice_objstore_cache_requests_total", "result", "disk_hit"); n != 1 {
		t.Fatalf("disk hits %v", n)
	}
	if n := counter(t, reg, "sluice_objstore_cache_bytes", "tier", "disk"); n != float64(total) {
		t.Fatalf("cache_bytes{disk} %v, want %d", n, total)
	}

	// A new cache on the directory adopts its files; a smaller bound evicts.
	c2, err := NewCache(src, CacheOptions{Dir: dir, DiskBytes: bound})
	if err != nil {
		t.Fatal(err)
	}
	if b, err := c2.Get(ctx, "o28", 0, 1000); err != nil || !bytes.Equal(b, bytes.Repeat([]byte{28}, 1000)) || src.getCount() != reads {
		t.Fatalf("after restart: %v, %d source reads", err, src.getCount()-reads)
	}
	c3, err := NewCache(src, CacheOptions{Dir: dir, DiskBytes: 3000})
	if err != nil {
		t.Fatal(err)
	}
	if total, _ := dirBytes(t, dir); total > 3000 {
		t.Fatalf("after restart with a smaller bound: %d bytes", total)
	}
	if _, d := c3.Size(); d > 3000 {
		t.Fatalf("accounted %d", d)
	}
}

func TestCacheDiskCorruptFile(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	src := filled(t, 1, 100)
	c, err := NewCache(src, CacheOptions{Dir: dir, DiskBytes: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Get(ctx, "o0", 10, 50); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, cacheFileName(rangeKey{"o0", 10, 50}))
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)-1] ^= 0xFF
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := c.Get(ctx, "o0", 10, 50)
	if err != nil || !bytes.Equal(got, make([]byte, 50)) || src.getCount() != 2 {
		t.Fatalf("corrupt file: %v %v, %d source reads", got, err, src.getCount())
	}
	// Rewritten from the source.
	if b2, err := os.ReadFile(path); err != nil || bytes.Equal(b2, b) {
		t.Fatalf("file not rewritten: %v", err)
	}
	c.Invalidate("o0")
	if _, files := dirBytes(t, dir); files != 0 {
		t.Fatalf("%d files after Invalidate", files)
	}
	if m, d := c.Size(); m != 0 || d != 0 {
		t.Fatalf("after Invalidate: %d %d", m, d)
	}
}

// blockingSource blocks every Get until release is closed.
type blockingSource struct {
	src     *memStore
	entered chan struct{}
	release chan struct{}
}

func (b *blockingSource) Get(ctx context.Context, key string, off, length int64) ([]byte, error) {
	b.entered <- struct{}{}
	select {
	case <-b.release:
	case <-ctx.Done():
		return nil, fmt.Errorf("%w: %w", ErrRetriable, ctx.Err())
	}
	return b.src.Get(ctx, key, off, length)
}

func waitWaiters(t *testing.T, c *Cache, k rangeKey, n int) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		c.mu.Lock()
		w := 0
		if f := c.flights[k]; f != nil {
			w = f.waiters
		}
		c.mu.Unlock()
		if w >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d waiters, want %d", w, n)
		}
		runtime.Gosched()
	}
}

func TestCacheSingleFlight(t *testing.T) {
	ctx := context.Background()
	src := &blockingSource{src: filled(t, 1, 100), entered: make(chan struct{}, 100), release: make(chan struct{})}
	c, err := NewCache(src, CacheOptions{}) // no tiers: only single flight avoids source reads
	if err != nil {
		t.Fatal(err)
	}
	const n = 8
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for range n {
		wg.Go(func() {
			b, err := c.Get(ctx, "o0", 0, 100)
			if err == nil && len(b) != 100 {
				err = fmt.Errorf("%d bytes", len(b))
			}
			errs <- err
		})
	}
	<-src.entered
	waitWaiters(t, c, rangeKey{"o0", 0, 100}, n-1)
	close(src.release)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if got := src.src.getCount(); got != 1 {
		t.Fatalf("%d source reads for %d concurrent misses", got, n)
	}
}

// TestCacheSingleFlightLeaderGivesUp: when the caller reading the source is
// cancelled, a waiter reads the source itself instead of failing.
func TestCacheSingleFlightLeaderGivesUp(t *testing.T) {
	src := &blockingSource{src: filled(t, 1, 100), entered: make(chan struct{}, 100), release: make(chan struct{})}
	c, err := NewCache(src, CacheOptions{MemoryBytes: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	lctx, cancel := context.WithCancel(context.Background())
	leaderErr := make(chan error, 1)
	go func() {
		_, err := c.Get(lctx, "o0", 0, 100)
		leaderErr <- err
	}()
	<-src.entered
	waiter := make(chan error, 1)
	go func() {
		b, err := c.Get(context.Background(), "o0", 0, 100)
		if err == nil && len(b) != 100 {
			err = fmt.Errorf("%d bytes", len(b))
		}
		waiter <- err
	}()
	waitWaiters(t, c, rangeKey{"o0", 0, 100}, 1)
	cancel()
	if err := <-leaderErr; !errors.Is(err, context.Canceled) {
		t.Fatalf("leader: %v", err)
	}
	<-src.entered // the waiter went to the source itself
	close(src.release)
	if err := <-waiter; err != nil {
		t.Fatalf("waiter: %v", err)
	}
}

// GetChecked: bytes failing the caller's check are neither returned nor
// kept (memory or disk, surviving a restart); a kept copy failing it is
// dropped and the range read again from the source.
func TestCacheGetChecked(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	src := filled(t, 1, 1000)
	want := bytes.Repeat([]byte{0}, 100)
	check := func(b []byte) error {
		if !bytes.Equal(b, want) {
			return fmt.Errorf("%w: bad range (test)", ErrCorrupt)
		}
		return nil
	}
	c, err := NewCache(src, CacheOptions{MemoryBytes: 1 << 20, Dir: dir, DiskBytes: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	_ = src.Put(ctx, "o0", bytes.Repeat([]byte{1}, 1000)) // the store serves bad bytes
	if _, err := c.GetChecked(ctx, "o0", 0, 100, check); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("bad source bytes: %v", err)
	}
	if mem, disk := c.Size(); mem != 0 || disk != 0 {
		t.Fatalf("bad bytes kept: memory %d, disk %d", mem, disk)
	}
	if _, files := dirBytes(t, dir); files != 0 {
		t.Fatalf("%d cache files", files)
	}
	// A plain Get keeps them (it has no check); GetChecked drops them and
	// reads the (now good) source.
	if _, err := c.Get(ctx, "o0", 0, 100); err != nil {
		t.Fatal(err)
	}
	_ = src.Put(ctx, "o0", bytes.Repeat([]byte{0}, 1000))
	got, err := c.GetChecked(ctx, "o0", 0, 100, check)
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("after the source was repaired: %v", err)
	}
	// Now kept checked: served from memory without the source.
	_ = src.Put(ctx, "o0", bytes.Repeat([]byte{2}, 1000))
	if got, err := c.GetChecked(ctx, "o0", 0, 100, check); err != nil || !bytes.Equal(got, want) {
		t.Fatalf("checked memory hit: %v", err)
	}
}
