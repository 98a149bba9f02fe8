package broker

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// kconn is a minimal Kafka client connection for scale tests: one request
// at a time, kmsg types, no metadata, no retries. franz-go clients are
// too heavy to run a thousand of on two cores.
type kconn struct {
	c    net.Conn
	r    *bufio.Reader
	f    *kmsg.RequestFormatter
	corr int32
	buf  []byte
}

func dialK(addr, id string) (*kconn, error) {
	c, err := net.DialTimeout("tcp", addr, 30*time.Second)
	if err != nil {
		return nil, err
	}
	return &kconn{c: c, r: bufio.NewReaderSize(c, 512), f: kmsg.NewRequestFormatter(kmsg.FormatterClientID(id))}, nil
}

func (k *kconn) do(req kmsg.Request) (kmsg.Response, error) {
	k.corr++
	k.buf = k.f.AppendRequest(k.buf[:0], req, k.corr)
	k.c.SetDeadline(time.Now().Add(2 * time.Minute))
	if _, err := k.c.Write(k.buf); err != nil {
		return nil, err
	}
	var size [4]byte
	if _, err := io.ReadFull(k.r, size[:]); err != nil {
		return nil, err
	}
	body := make([]byte, binary.BigEndian.Uint32(size[:]))
	if _, err := io.ReadFull(k.r, body); err != nil {
		return nil, err
	}
	if got := int32(binary.BigEndian.Uint32(body)); got != k.corr {
		return nil, fmt.Errorf("correlation id %d, want %d", got, k.corr)
	}
	body = body[4:]
	resp := req.ResponseKind()
	resp.SetVersion(req.GetVersion())
	if resp.IsFlexible() && req.Key() != 18 {
		body = body[1:] // no tagged fields in the response header
	}
	return resp, resp.ReadFrom(body)
}

// member is one consumer-group member driven by raw JoinGroup/SyncGroup.
type member struct {
	k          *kconn
	group, id  string
	generation int32
}

// joinAndSync joins (again) until a SyncGroup succeeds.
func (m *member) joinAndSync() error {
	for {
		j := kmsg.NewPtrJoinGroupRequest()
		j.Version = 5
		j.Group, j.MemberID, j.ProtocolType = m.group, m.id, "consumer"
		j.SessionTimeoutMillis, j.RebalanceTimeoutMillis = 60000, 60000
		p := kmsg.NewJoinGroupRequestProtocol()
		p.Name, p.Metadata = "range", []byte{0, 1, 0, 0, 0, 0, 0, 0, 0, 0}
		j.Protocols = append(j.Protocols, p)
		r, err := m.k.do(j)
		if err != nil {
			return err
		}
		jr := r.(*kmsg.JoinGroupResponse)
		switch err := kerr.ErrorForCode(jr.ErrorCode); {
		case errors.Is(err, kerr.MemberIDRequired):
			m.id = jr.MemberID
			continue
		case errors.Is(err, kerr.UnknownMemberID):
			m.id = ""
			continue
		case err != nil:
			return fmt.Errorf("join: %w", err)
		}
		m.id, m.generation = jr.MemberID, jr.Generation
		s := kmsg.NewPtrSyncGroupRequest()
		s.Version = 3
		s.Group, s.MemberID, s.Generation = m.group, m.id, jr.Generation
		if jr.LeaderID == m.id {
			for _, mem := range jr.Members {
				a := kmsg.NewSyncGroupRequestGroupAssignment()
				a.MemberID, a.MemberAssignment = mem.MemberID, []byte{0, 1, 0, 0, 0, 0, 0, 0, 0, 0}
				s.GroupAssignment = append(s.GroupAssignment, a)
			}
		}
		r, err = m.k.do(s)
		if err != nil {
			return err
		}
		switch err := kerr.ErrorForCode(r.(*kmsg.SyncGroupResponse).ErrorCode); {
		case errors.Is(err, kerr.RebalanceInProgress):
			continue
		case err != nil:
			return fmt.Errorf("sync: %w", err)
		}
		return nil
	}
}

// heartbeat reports whether the group is rebalancing.
func (m *member) heartbeat() (bool, error) {
	h := kmsg.NewPtrHeartbeatRequest()
	h.Version = 3
	h.Group, h.MemberID, h.Generation = m.group, m.id, m.generation
	r, err := m.k.do(h)
	if err != nil {
		return false, err
	}
	switch err := kerr.ErrorForCode(r.(*kmsg.HeartbeatResponse).ErrorCode); {
	case errors.Is(err, kerr.RebalanceInProgress):
		return true, nil
	case err != nil:
		return false, fmt.Errorf("heartbeat: %w", err)
	}
	return false, nil
}

// TestScaleGroupRebalance puts SLUICE_SCALE_MEMBERS members (100 unless
// set; scripts/scale.sh runs 1,000) in one group, then times a rebalance:
// one more member joins, the others learn it from their heartbeats (sent
// every 100 ms) and rejoin, and the time runs until every member has its
// SyncGroup answer.
func TestScaleGroupRebalance(t *testing.T) {
	n := scaleEnv("SLUICE_SCALE_MEMBERS", 100)
	tb := startBroker(t, "", map[string]string{"group.initial.rebalance.delay.ms": "2000", "offsets.topic.num.partitions": "2"})
	members := make([]*member, n+1)
	for i := range members {
		k, err := dialK(tb.addr, "m"+strconv.Itoa(i))
		if err != nil {
			t.Fatal(err)
		}
		defer k.c.Close()
		members[i] = &member{k: k, group: "big"}
	}
	start := time.Now()
	errs := make(chan error, n+1)
	var wg sync.WaitGroup
	for _, m := range members[:n] {
		wg.Go(func() { errs <- m.joinAndSync() })
	}
	wg.Wait()
	for range n {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("%d members joined one group in %v (group.initial.rebalance.delay.ms=2000 included)", n, time.Since(start))

	start = time.Now()
	done := make(chan time.Duration, n+1)
	for _, m := range members[:n] {
		wg.Go(func() {
			for {
				rebalancing, err := m.heartbeat()
				if err != nil {
					errs <- err
					return
				}
				if rebalancing {
					errs <- m.joinAndSync()
					done <- time.Since(start)
					return
				}
				time.Sleep(100 * time.Millisecond) // the members' heartbeat interval
			}
		})
	}
	wg.Go(func() { errs <- members[n].joinAndSync(); done <- time.Since(start) })
	wg.Wait()
	var last time.Duration
	for range n + 1 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
		last = max(last, <-done)
	}
	gen := members[0].generation
	for _, m := range members {
		if m.generation != gen {
			t.Fatalf("members in generations %d and %d", gen, m.generation)
		}
	}
	t.Logf("rebalance of %d members: all synced %v after the new member's JoinGroup (heartbeat interval 100 ms)", n+1, last)
}

// TestScaleConnections opens SLUICE_SCALE_CONNS connections (200 unless
// set; scripts/scale.sh runs 5,000): half idle after an ApiVersions, half
// producing one small record every second, for SLUICE_SCALE_CONNS_SECS
// (3) seconds, and logs the process's RSS growth per connection.
func TestScaleConnections(t *testing.T) {
	n := scaleEnv("SLUICE_SCALE_CONNS", 200)
	secs := scaleEnv("SLUICE_SCALE_CONNS_SECS", 3)
	tb := startBroker(t, "", map[string]string{"offsets.topic.num.partitions": "2"})
	cl := newClient(t, tb.addr)
	createTopic(t, cl, "conns", 8, nil)
	cl.Close()
	runtime.GC()
	before := vmRSS()
	conns := make([]*kconn, n)
	for i := range conns {
		k, err := dialK(tb.addr, "c"+strconv.Itoa(i))
		if err != nil {
			t.Fatal(err)
		}
		defer k.c.Close()
		if _, err := k.do(kmsg.NewPtrApiVersionsRequest()); err != nil {
			t.Fatal(err)
		}
		conns[i] = k
	}
	idle := vmRSS()
	t.Logf("%d idle connections: RSS %d KiB -> %d KiB, %.1f KiB per connection (test process, client side included)",
		n, before, idle, float64(idle-before)/float64(n))
	var wg sync.WaitGroup
	errs := make(chan error, n)
	deadline := time.Now().Add(time.Duration(secs) * time.Second)
	for i, k := range conns {
		if i%2 == 1 {
			continue
		}
		wg.Go(func() {
			for time.Now().Before(deadline) {
				req := kmsg.NewPtrProduceRequest()
				req.Version, req.Acks, req.TimeoutMillis = 9, 1, 5000
				rt := kmsg.NewProduceRequestTopic()
				rt.Topic = "conns"
				rp := kmsg.NewProduceRequestTopicPartition()
				rp.Partition = int32(i % 8)
				rp.Records = buildBatch(-1, -1, -1, time.Now().UnixMilli(), rawRecord{value: []byte("v")})
				rt.Partitions = append(rt.Partitions, rp)
				req.Topics = append(req.Topics, rt)
				r, err := k.do(req)
				if err != nil {
					errs <- err
					return
				}
				if err := kerr.ErrorForCode(r.(*kmsg.ProduceResponse).Topics[0].Partitions[0].ErrorCode); err != nil {
					errs <- err
					return
				}
				time.Sleep(time.Second) // the low rate
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	busy := vmRSS()
	t.Logf("%d connections, %d producing 1 record/s for %ds: RSS %d KiB, %.1f KiB per connection over the start",
		n, (n+1)/2, secs, busy, float64(busy-before)/float64(n))
}

// vmRSS returns the process's resident set in KiB.
func vmRSS() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == "VmRSS:" {
			n, _ := strconv.ParseInt(f[1], 10, 64)
			return n
		}
	}
	return 0
}
