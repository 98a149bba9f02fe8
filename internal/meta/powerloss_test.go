package meta

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/sluice-io/sluice/internal/vfs/crashfs"
)

// TestPowerLoss changes topics, topic configs, dynamic broker configs and
// SCRAM credentials from several goroutines on a crash-simulating file
// system, takes the disk image a power loss would leave at random moments
// (unsynced writes lost or torn, undurable directory entries gone) and
// reopens the store and the credentials from each image. They must open
// without error, keep the cluster ID, and hold, for every writer, a state
// at or after its last acknowledged change and no later than its last
// started one. Every writer's changes form a numbered sequence, so the
// image tells which of them it holds.
func TestPowerLoss(t *testing.T) {
	seeds := 12
	if testing.Short() {
		seeds = 4
	}
	for seed := range uint64(seeds) {
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) { powerLossOnce(t, seed) })
	}
}

// powerWriter is one goroutine's sequence of changes. step(k) performs
// change k; read(store, creds) returns the number of the last change the
// image holds, or -1 for none.
type powerWriter struct {
	name    string
	step    func(k int) error
	read    func(s *Store, c *Credentials) int
	started atomic.Int64 // changes begun
	acked   atomic.Int64 // changes whose call returned
}

func powerLossOnce(t *testing.T, seed uint64) {
	rng := rand.New(rand.NewPCG(seed, 0x6d657461))
	fsys := crashfs.New()
	const dir = "/data"
	s, err := OpenStore(fsys, dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	c, err := OpenCredentials(fsys, dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	cid := s.ClusterID()

	var writers []*powerWriter
	for i := range 3 { // topic writers: create, then alter its config
		name := fmt.Sprintf("topic-%d", i)
		writers = append(writers, &powerWriter{
			name: name,
			step: func(k int) error {
				if k == 0 {
					_, err := s.CreateTopic(Topic{Name: name, Partitions: 1, Configs: map[string]string{"retention.ms": "1"}})
					return err
				}
				return s.SetTopicConfigs(name, map[string]string{"retention.ms": strconv.Itoa(k + 1)})
			},
			read: func(s *Store, _ *Credentials) int {
				tp, ok := s.Topic(name)
				if !ok {
					return -1
				}
				v, _ := strconv.Atoi(tp.Configs["retention.ms"])
				return v - 1
			},
		})
	}
	writers = append(writers, &powerWriter{
		name: "broker configs",
		step: func(k int) error {
			return s.SetBrokerDynamic(map[string]string{"log.retention.ms": strconv.Itoa(1000 + k)})
		},
		read: func(s *Store, _ *Credentials) int {
			v, ok := s.BrokerDynamic()["log.retention.ms"]
			if !ok {
				return -1
			}
			n, _ := strconv.Atoi(v)
			return n - 1000
		},
	}, &powerWriter{
		name: "credentials",
		step: func(k int) error {
			cr := ScramCredential{Salt: []byte("salt"), StoredKey: []byte("stored"), ServerKey: []byte("server"), Iterations: int32(4096 + k)}
			errs, err := c.Alter([]CredentialChange{{User: "alice", Mechanism: "SCRAM-SHA-256", Cred: cr}})
			if err == nil && errs[0] != nil {
				err = errs[0]
			}
			return err
		},
		read: func(_ *Store, c *Credentials) int {
			cr, ok := c.Get("alice", "SCRAM-SHA-256")
			if !ok {
				return -1
			}
			return int(cr.Iterations) - 4096
		},
	})

	const steps = 60
	var wg sync.WaitGroup
	for _, w := range writers {
		wg.Go(func() {
			for k := range steps {
				w.started.Add(1)
				if err := w.step(k); err != nil {
					t.Errorf("%s step %d: %v", w.name, k, err)
					return
				}
				w.acked.Add(1)
			}
		})
	}

	type image struct {
		fs     *crashfs.FS
		lo, hi []int // per writer: last acknowledged and last started change
	}
	var images []image
	crash := func() {
		im := image{lo: make([]int, len(writers)), hi: make([]int, len(writers))}
		for i, w := range writers {
			im.lo[i] = int(w.acked.Load()) - 1
		}
		im.fs = fsys.Crash(rng)
		for i, w := range writers {
			im.hi[i] = int(w.started.Load()) - 1
		}
		images = append(images, im)
	}
	for range 8 {
		crash()
		for range rng.IntN(400) { // let the writers run a while
			runtime.Gosched()
		}
	}
	wg.Wait()
	crash() // everything acknowledged

	for n, im := range images {
		rs, err := OpenStore(im.fs, dir, nil)
		if err != nil {
			t.Fatalf("image %d: OpenStore: %v", n, err)
		}
		rc, err := OpenCredentials(im.fs, dir, nil)
		if err != nil {
			t.Fatalf("image %d: OpenCredentials: %v", n, err)
		}
		if rs.ClusterID() != cid {
			t.Errorf("image %d: cluster ID %s, want %s", n, rs.ClusterID(), cid)
		}
		for i, w := range writers {
			if got := w.read(rs, rc); got < im.lo[i] || got > im.hi[i] {
				t.Errorf("image %d: %s holds change %d, want one in [%d, %d] (acknowledged .. started)", n, w.name, got, im.lo[i], im.hi[i])
			}
		}
		// The recovered store keeps working and survives a second crash.
		if err := rs.SetGroupConfigs("g", map[string]string{"consumer.session.timeout.ms": "45000"}); err != nil {
			t.Fatalf("image %d: write after recovery: %v", n, err)
		}
		again, err := OpenStore(im.fs.Crash(rng), dir, nil)
		if err != nil {
			t.Fatalf("image %d: reopen after a second crash: %v", n, err)
		}
		if again.GroupConfigs("g") == nil {
			t.Errorf("image %d: acknowledged group config lost in a second crash", n)
		}
	}
	if last := images[len(images)-1]; last.lo[0] != steps-1 {
		t.Fatalf("final image taken before the writers finished: %v", last.lo)
	}
}
