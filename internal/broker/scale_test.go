package broker

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestScalePartitions creates SLUICE_SCALE_TOPICS topics (20 unless set)
// of SLUICE_SCALE_PARTITIONS partitions (100) over the wire, answers a
// Metadata request for all of them, writes one record to every partition,
// restarts the broker cleanly (with log.lazy.load.enable, partitions are
// loaded on first use: log/lazy.go) and reads every partition back, then starts a broker on a
// copy of the data directory taken while the broker ran (a crash image:
// no partition was closed cleanly, so every one is recovered at start-up)
// and reads every partition again. It logs the time of each step, the
// process's RSS and open files; scripts/scale.sh runs it at full size.
func TestScalePartitions(t *testing.T) {
	topics, parts := scaleEnv("SLUICE_SCALE_TOPICS", 20), scaleEnv("SLUICE_SCALE_PARTITIONS", 100)
	if testing.Short() {
		topics = 5
	}
	// Written to, restarted and read back: the first SLUICE_SCALE_TOUCH
	// topics (all but one unless set); the others are fetched, never
	// written. SLUICE_SCALE_OPEN_FILES sets log.open.files.max.
	touch := min(scaleEnv("SLUICE_SCALE_TOUCH", max(topics-1, 1)), topics)
	total := topics * parts
	dir := t.TempDir()
	kafka := map[string]string{"offsets.topic.num.partitions": "2", "transaction.state.log.num.partitions": "2",
		"log.lazy.load.enable": "true"}
	if cap := scaleEnv("SLUICE_SCALE_OPEN_FILES", 0); cap > 0 {
		kafka["log.open.files.max"] = strconv.Itoa(cap) // idle partitions closed past it
	}
	tb := startBroker(t, dir, kafka)
	cl := newClient(t, tb.addr, kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.ProducerLinger(5*time.Millisecond))
	adm := kadm.NewClient(cl)
	names := make([]string, topics)
	for i := range names {
		names[i] = fmt.Sprintf("scale-%05d", i)
	}

	start := time.Now()
	for i := 0; i < topics; i += 100 {
		resps, err := adm.CreateTopics(ctxT(t), int32(parts), 1, nil, names[i:min(i+100, topics)]...)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range resps {
			if r.Err != nil {
				t.Fatalf("creating %s: %v", r.Topic, r.Err)
			}
		}
	}
	created := time.Since(start)
	t.Logf("created %d partitions (%d topics) in %v (%.1f ms per 1,000)", total, topics, created,
		float64(created.Milliseconds())*1000/float64(total))
	scaleReport(t, "after create")

	var best time.Duration
	for range 3 {
		start = time.Now()
		resp, err := kmsg.NewPtrMetadataRequest().RequestWith(ctxT(t), cl)
		if err != nil {
			t.Fatal(err)
		}
		d := time.Since(start)
		if best == 0 || d < best {
			best = d
		}
		n := 0
		for _, rt := range resp.Topics {
			if rt.Topic != nil && strings.HasPrefix(*rt.Topic, "scale-") {
				n += len(rt.Partitions)
			}
		}
		if n != total {
			t.Fatalf("Metadata lists %d partitions, want %d", n, total)
		}
	}
	t.Logf("Metadata for all topics: best of 3 %v (client-measured, decode included)", best)

	start = time.Now()
	var recs []*kgo.Record
	for _, name := range names[:touch] {
		for p := range parts {
			recs = append(recs, &kgo.Record{Topic: name, Partition: int32(p), Value: []byte(name + "/" + strconv.Itoa(p))})
		}
	}
	// Each first use loads a partition (and, under a cap, closes
	// another): 10 ms a partition, at least 30 s.
	pctx, pcancel := context.WithTimeout(context.Background(), max(30*time.Second, time.Duration(touch*parts)*10*time.Millisecond))
	defer pcancel()
	if err := cl.ProduceSync(pctx, recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	t.Logf("produced one record to each of %d partitions (the first use of each) in %v", touch*parts, time.Since(start))
	scaleReport(t, "after produce")
	cl.Close()

	// A crash image: a copy taken while the broker runs, after a flush.
	if err := tb.flushAll(); err != nil {
		t.Fatal(err)
	}
	crashDir := filepath.Join(t.TempDir(), "crash")
	copyTree(t, dir, crashDir)

	start = time.Now()
	tb.stop(t)
	t.Logf("clean shutdown in %v", time.Since(start))
	start = time.Now()
	tb = startBroker(t, dir, kafka)
	t.Logf("clean restart: listening after %v", time.Since(start))
	if awake := tb.awakeUserPartitions(); awake != 0 {
		t.Fatalf("%d partitions loaded at a clean restart, want none before first use", awake)
	}
	scaleReport(t, "after clean restart")
	start = time.Now()
	scaleReadAll(t, tb.addr, names[:touch], parts)
	t.Logf("read every written partition (%d) after the clean restart (loading each) in %v", touch*parts, time.Since(start))
	scaleReport(t, "after reading every partition")
	if capN := scaleEnv("SLUICE_SCALE_OPEN_FILES", 0); capN > 0 {
		scalePollAtEnd(t, tb, names[:touch], parts, capN)
	}
	if touch < topics {
		start = time.Now()
		scaleFetchNotWritten(t, tb, dir, names[touch:], parts)
		t.Logf("fetched every partition never written (%d) at offset 0 in %v: no directory created, none loaded",
			(topics-touch)*parts, time.Since(start))
	}
	tb.stop(t)

	start = time.Now()
	tb = startBroker(t, crashDir, kafka)
	t.Logf("unclean restart (crash image, every partition recovered): listening after %v", time.Since(start))
	awake := tb.awakeUserPartitions()
	if _, capped := kafka["log.open.files.max"]; capped {
		// Logs the cap had put to sleep were closed cleanly before the
		// crash image was taken: they need no recovery.
		t.Logf("%d partitions recovered at the unclean restart (the others were asleep under the cap)", awake)
	} else if awake != touch*parts {
		t.Fatalf("%d partitions recovered at an unclean restart, want the %d written", awake, touch*parts)
	}
	scaleReport(t, "after unclean restart")
	scaleReadAll(t, tb.addr, names[:touch], parts)
}

// scalePollAtEnd has one consumer poll every written partition at its end
// (offset 1) for two seconds, a working set larger than the open-files
// cap: logs the cap put to sleep answer there without being loaded, so the
// cap holds.
func scalePollAtEnd(t *testing.T, tb *testBroker, names []string, parts, capN int) {
	t.Helper()
	tb.lc.files.Enforce() // what the ticker does each second
	offs := map[string]map[int32]kgo.Offset{}
	for _, n := range names {
		offs[n] = map[int32]kgo.Offset{}
		for p := range parts {
			offs[n][int32(p)] = kgo.NewOffset().At(1)
		}
	}
	cl := newClient(t, tb.addr, kgo.ConsumePartitions(offs), kgo.FetchMaxWait(50*time.Millisecond))
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	peak := 0
	for ctx.Err() == nil {
		fs := cl.PollFetches(ctx)
		if err := fs.Err0(); err != nil && !errors.Is(err, context.DeadlineExceeded) {
			t.Fatal(err)
		}
		if fs.NumRecords() > 0 {
			t.Fatalf("polling at the end read %d records", fs.NumRecords())
		}
		peak = max(peak, tb.lc.files.OpenFiles())
	}
	open := tb.lc.files.OpenFiles()
	t.Logf("one consumer polling %d partitions at their end for 2 s with log.open.files.max %d: %d segment files open, %d at most between polls",
		len(names)*parts, capN, open, peak)
	if open > capN {
		t.Errorf("%d segment files open while polling at the end, cap %d", open, capN)
	}
}

func scaleEnv(name string, def int) int {
	if n, err := strconv.Atoi(os.Getenv(name)); err == nil && n > 0 {
		return n
	}
	return def
}

// scaleFetchNotWritten fetches every partition of names at offset 0, 100
// topics a request, and checks that each answers empty at offset 0
// without its log being created or loaded.
func scaleFetchNotWritten(t *testing.T, tb *testBroker, dir string, names []string, parts int) {
	t.Helper()
	cl := newClient(t, tb.addr)
	defer cl.Close()
	for i := 0; i < len(names); i += 100 {
		req := fullFetch(tb, 0, 0, parts, names[i:min(i+100, len(names))]...)
		resp, err := req.RequestWith(ctxT(t), cl)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, rt := range resp.Topics {
			for _, p := range rt.Partitions {
				if p.ErrorCode != 0 || p.HighWatermark != 0 || p.LogStartOffset != 0 || len(p.RecordBatches) != 0 {
					t.Fatalf("%s-%d never written: error %d, hw %d, log start %d, %d bytes", rt.Topic, p.Partition,
						p.ErrorCode, p.HighWatermark, p.LogStartOffset, len(p.RecordBatches))
				}
				n++
			}
		}
		if want := len(req.Topics) * parts; n != want {
			t.Fatalf("fetch answered %d partitions, want %d", n, want)
		}
	}
	for _, name := range names {
		for p := range int32(parts) {
			if _, err := os.Stat(partitionDir(dir, name, p)); !os.IsNotExist(err) {
				t.Fatalf("%s-%d: fetching a partition never written created its directory (%v)", name, p, err)
			}
			if !tb.topic(name).partitions[p].log.Dormant() {
				t.Fatalf("%s-%d: fetching a partition never written loaded its log", name, p)
			}
		}
	}
}

// scaleReadAll checks that every partition holds its one record.
func scaleReadAll(t *testing.T, addr string, names []string, parts int) {
	t.Helper()
	offs := map[string]map[int32]kgo.Offset{}
	for _, n := range names {
		offs[n] = map[int32]kgo.Offset{}
		for p := range parts {
			offs[n][int32(p)] = kgo.NewOffset().At(0)
		}
	}
	cl := newClient(t, addr, kgo.ConsumePartitions(offs), kgo.FetchMaxWait(100*time.Millisecond))
	defer cl.Close()
	want := len(names) * parts
	seen := make(map[string]bool, want)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute) // loading partitions on first use
	defer cancel()
	for len(seen) < want {
		fs := cl.PollFetches(ctx)
		if err := fs.Err0(); err != nil {
			t.Fatalf("after %d of %d partitions: %v", len(seen), want, err)
		}
		fs.EachRecord(func(r *kgo.Record) {
			if got, w := string(r.Value), r.Topic+"/"+strconv.Itoa(int(r.Partition)); got != w || r.Offset != 0 {
				t.Fatalf("%s-%d offset %d holds %q, want %q at 0", r.Topic, r.Partition, r.Offset, got, w)
			}
			seen[string(r.Value)] = true
		})
	}
}

// flushAll fsyncs every loaded log.
func (tb *testBroker) flushAll() error {
	for _, p := range tb.allPartitions() {
		if !p.log.Dormant() {
			if err := p.log.Flush(); err != nil {
				return err
			}
		}
	}
	return nil
}

func (tb *testBroker) awakeUserPartitions() int {
	n := 0
	for _, p := range tb.allPartitions() {
		if !strings.HasPrefix(p.topic, "__") && !p.log.Dormant() {
			n++
		}
	}
	return n
}

// scaleReport logs the process's RSS, Go heap and open files.
func scaleReport(t *testing.T, when string) {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	rss := "?"
	if b, err := os.ReadFile("/proc/self/status"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(l, "VmRSS:") {
				rss = strings.TrimSpace(strings.TrimPrefix(l, "VmRSS:"))
			}
		}
	}
	fds := -1
	if es, err := os.ReadDir("/proc/self/fd"); err == nil {
		fds = len(es)
	}
	t.Logf("%s: RSS %s (test process: broker and clients), Go heap in use %d MiB, open files %d",
		when, rss, ms.HeapInuse>>20, fds)
}

// copyTree copies the directory tree src to dst.
func copyTree(t *testing.T, src, dst string) {
	t.Helper()
	err := filepath.WalkDir(src, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, path)
		to := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(to, 0o755)
		}
		in, err := os.Open(path)
		if err != nil {
			return err
		}
		defer in.Close()
		out, err := os.Create(to)
		if err != nil {
			return err
		}
		if _, err := io.Copy(out, in); err != nil {
			out.Close()
			return err
		}
		return out.Close()
	})
	if err != nil {
		t.Fatal(err)
	}
}
