package broker

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// TestOpenFilesCap: with log.open.files.max=4 and nothing else, producing
// to 12 partitions in turn keeps at most 4 segment files open between requests (idle
// partitions are closed cleanly and loaded again on their next use:
// log/filecap.go); a fetch of all 12 exceeds the cap while it pins them,
// and the broker's tick brings the count back under it. Every record is
// read back, also after a restart.
func TestOpenFilesCap(t *testing.T) {
	const parts, rounds, capFiles = 12, 3, 4
	dir := t.TempDir()
	// The cap alone: it turns on lazy loading (log.lazy.load.enable).
	kafka := map[string]string{"log.open.files.max": fmt.Sprint(capFiles)}
	tb := startBroker(t, dir, kafka)
	if tb.lc.files == nil || tb.lc.files.Max() != capFiles {
		t.Fatalf("log.open.files.max=%d not applied", capFiles)
	}
	cl := newClient(t, tb.addr, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	createTopic(t, cl, "capped", parts, nil)
	// A segment pinned by a fetch response still being released (the
	// previous round's reads) is closed by the broker's once-a-second tick;
	// the check runs that enforcement first, so it does not race with it.
	checkOpen := func(when string) {
		t.Helper()
		tb.lc.files.Enforce()
		if n := tb.lc.files.OpenFiles(); n > capFiles {
			t.Fatalf("%s: %d segment files open, log.open.files.max=%d", when, n, capFiles)
		}
	}
	for round := range rounds {
		for p := range int32(parts) {
			// One partition a request, so that each loads another.
			rec := &kgo.Record{Topic: "capped", Partition: p, Value: fmt.Appendf(nil, "%d/%d", p, round)}
			if err := cl.ProduceSync(ctxT(t), rec).FirstErr(); err != nil {
				t.Fatal(err)
			}
			checkOpen(fmt.Sprintf("round %d, after producing to partition %d", round, p))
		}
		readCapped(t, tb.addr, parts, round+1)
		// The fetches pinned the segments they answered from until the
		// responses were written: the cap was exceeded meanwhile, and the
		// broker's once-a-second tick closes them again.
		tb.lc.files.Enforce()
		checkOpen(fmt.Sprintf("round %d, after fetching every partition", round))
	}
	if st := tb.lc.files.Stats(); st.Sleeps == 0 {
		t.Fatalf("no partition was closed: %+v", st)
	}
	cl.Close()
	tb.stop(t)

	tb = startBroker(t, dir, kafka)
	readCapped(t, tb.addr, parts, rounds)
	tb.lc.files.Enforce()
	checkOpen("after the restart and fetching every partition")
}

// readCapped reads every partition of "capped" from offset 0 with a new
// client and checks it holds records "p/0" to "p/n-1".
func readCapped(t *testing.T, addr string, parts, n int) {
	t.Helper()
	offs := map[int32]kgo.Offset{}
	for p := range int32(parts) {
		offs[p] = kgo.NewOffset().At(0)
	}
	cl := newClient(t, addr, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{"capped": offs}),
		kgo.FetchMaxWait(100*time.Millisecond))
	defer cl.Close()
	got := make([]int, parts)
	seen := 0
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for seen < parts*n {
		fs := cl.PollFetches(ctx)
		if err := fs.Err0(); err != nil {
			t.Fatalf("after %d of %d records: %v", seen, parts*n, err)
		}
		fs.EachRecord(func(r *kgo.Record) {
			if want := fmt.Sprintf("%d/%d", r.Partition, got[r.Partition]); string(r.Value) != want || r.Offset != int64(got[r.Partition]) {
				t.Fatalf("partition %d offset %d holds %q, want %q at %d", r.Partition, r.Offset, r.Value, want, got[r.Partition])
			}
			got[r.Partition]++
			seen++
		})
	}
}
