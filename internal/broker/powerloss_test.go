package broker

import (
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluice-io/sluice/internal/vfs/crashfs"
)

// TestBrokerPowerLoss runs a broker on a crash-simulating file system with
// log.flush.interval.messages=1, produces records and commits group offsets
// with franz-go, and takes the disk images a power loss would leave at
// random moments while it does. A new broker started on each image must
// serve every record and every committed offset acknowledged before that
// image was taken (the fetches read crashfs files, which have no file
// descriptor, so they also exercise the copying read path beside sendfile).
func TestBrokerPowerLoss(t *testing.T) {
	rng := rand.New(rand.NewPCG(13, 3))
	fsys := crashfs.New()
	const dataDir = "/data"
	kafka := map[string]string{
		"log.flush.interval.messages":          "1",
		"offsets.topic.num.partitions":         "2",
		"transaction.state.log.num.partitions": "2",
	}
	tb := startBrokerWith(t, Config{DataDir: dataDir, FS: fsys, Kafka: kafka})
	cl := newClient(t, tb.addr, kgo.RecordPartitioner(kgo.RoundRobinPartitioner()), kgo.ProducerLinger(0))
	createTopic(t, cl, "t", 3, nil)
	adm := kadm.NewClient(cl)

	type image struct {
		fs      *crashfs.FS
		records []string // acknowledged values
		commit  int64    // last acknowledged commit of group g for t/0
	}
	var (
		mu      sync.Mutex
		acked   []string
		commit  int64 = -1
		done    bool
		images  []image
		wg      sync.WaitGroup
		stopped = make(chan struct{})
		ackedC  = sync.NewCond(&mu)
	)
	const total = 300
	pad := strings.Repeat("x", 12<<10) // 3.6 MiB over 3 partitions: each rolls its 1 MiB segment
	wg.Go(func() {                     // producer
		for i := range total {
			v := "v" + strconv.Itoa(i)
			if err := cl.ProduceSync(ctxT(t), &kgo.Record{Topic: "t", Key: []byte(v), Value: []byte(pad)}).FirstErr(); err != nil {
				t.Errorf("produce %s: %v", v, err)
				mu.Lock()
				done = true
				ackedC.Broadcast()
				mu.Unlock()
				return
			}
			mu.Lock()
			acked = append(acked, v)
			ackedC.Broadcast()
			mu.Unlock()
		}
		mu.Lock()
		done = true
		ackedC.Broadcast()
		mu.Unlock()
	})
	wg.Go(func() { // committer
		for i := int64(1); ; i++ {
			select {
			case <-stopped:
				return
			default:
			}
			offs := kadm.Offsets{}
			offs.Add(kadm.Offset{Topic: "t", Partition: 0, At: i, LeaderEpoch: -1})
			resp, err := adm.CommitOffsets(ctxT(t), "g", offs)
			if err == nil {
				err = resp.Error()
			}
			if err != nil {
				t.Errorf("commit %d: %v", i, err)
				return
			}
			mu.Lock()
			commit = i
			mu.Unlock()
		}
	})
	for n := range 4 { // crash points spread over the run
		target := (n+1)*total/5 + rng.IntN(total/10)
		mu.Lock()
		for len(acked) < target && !done {
			ackedC.Wait()
		}
		im := image{records: append([]string(nil), acked...), commit: commit}
		mu.Unlock()
		im.fs = fsys.Crash(rng)
		images = append(images, im)
	}
	close(stopped)
	wg.Wait()
	tb.stop(t)
	if t.Failed() {
		return
	}

	for n, im := range images {
		t.Run(fmt.Sprintf("image=%d", n), func(t *testing.T) {
			rb := startBrokerWith(t, Config{DataDir: dataDir, FS: im.fs, Kafka: kafka})
			rcl := newClient(t, rb.addr, kgo.ConsumeTopics("t"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
			want := map[string]bool{}
			for _, v := range im.records {
				want[v] = true
			}
			ctx := ctxT(t)
			for len(want) > 0 {
				fs := rcl.PollFetches(ctx)
				if err := ctx.Err(); err != nil {
					t.Fatalf("%d acknowledged records missing after the crash, e.g. %v", len(want), firstKey(want))
				}
				fs.EachError(func(tp string, p int32, err error) { t.Errorf("fetch %s/%d: %v", tp, p, err) })
				fs.EachRecord(func(r *kgo.Record) { delete(want, string(r.Key)) })
			}
			offs, err := kadm.NewClient(rcl).FetchOffsets(ctx, "g")
			if err != nil {
				t.Fatal(err)
			}
			got, ok := offs.Lookup("t", 0)
			switch {
			case im.commit < 0 && ok && got.Err != nil:
				t.Errorf("offset fetch: %v", got.Err)
			case im.commit >= 0 && (!ok || got.At < im.commit):
				t.Errorf("committed offset of g for t/0 is %+v after the crash, want at least the acknowledged %d", got, im.commit)
			}
		})
	}
}

func firstKey(m map[string]bool) string {
	for k := range m {
		return k
	}
	return ""
}
