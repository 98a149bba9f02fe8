package compat

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/binary"
	"hash/crc32"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// rssBound is what the broker's resident memory must stay under while
// TestHostileMemory attacks it (documented in DESIGN.md). Measured on a
// 2-core machine: VmHWM 325-345 MiB with the fixes (6 GiB without them).
const rssBound = 512 << 20

// procMem returns a process's VmRSS and VmHWM in bytes.
func procMem(t testing.TB, pid int) (rss, hwm int64) {
	t.Helper()
	f, err := os.Open("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok || (k != "VmRSS" && k != "VmHWM") {
			continue
		}
		kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		if err != nil {
			t.Fatalf("%s: %v", sc.Text(), err)
		}
		if k == "VmRSS" {
			rss = kb << 10
		} else {
			hwm = kb << 10
		}
	}
	return rss, hwm
}

// gzipBombBatch is a v2 record batch claiming one record whose records
// area is gzip of zeros that inflates to far more than any batch may.
func gzipBombBatch(t testing.TB) []byte {
	var buf bytes.Buffer
	w, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	zeros := make([]byte, 1<<20)
	for range 1000 { // 1000 MiB
		w.Write(zeros)
	}
	w.Close()
	rb := kmsg.RecordBatch{Magic: 2, Attributes: 1, FirstTimestamp: time.Now().UnixMilli(), MaxTimestamp: time.Now().UnixMilli(),
		ProducerID: -1, ProducerEpoch: -1, FirstSequence: -1, NumRecords: 1, Records: buf.Bytes()}
	b := rb.AppendTo(nil)
	binary.BigEndian.PutUint32(b[8:], uint32(len(b)-12))
	binary.BigEndian.PutUint32(b[17:], crc32.Checksum(b[21:], crc32.MakeTable(crc32.Castagnoli)))
	return b
}

// TestHostileMemory: 32 connections sending gzip bombs and 32 declaring
// maximum-size frames at once keep the broker's resident memory under
// rssBound, while another client keeps producing.
func TestHostileMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("heavy")
	}
	// The bomb first: compressing 1000 MiB takes a while on a loaded
	// machine, and must not eat into the contexts below.
	bomb := gzipBombBatch(t)
	s := startServer(t, "")
	pid := s.cmd.Process.Pid
	cl, err := kgo.NewClient(kgo.SeedBrokers(s.addr), kgo.DefaultProduceTopic("victim"), kgo.RequiredAcks(kgo.AllISRAcks()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx := ctxT(t, 10*time.Minute)
	if _, err := kadm.NewClient(cl).CreateTopic(ctx, 1, 1, nil, "victim"); err != nil {
		t.Fatal(err)
	}
	if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte("warm")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	baseRSS, _ := procMem(t, pid)

	req := kmsg.NewPtrProduceRequest()
	req.Version, req.Acks, req.TimeoutMillis = 9, 1, 30000
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = "victim"
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Records = bomb
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	bombFrame := kmsg.NewRequestFormatter(kmsg.FormatterClientID("bomber")).AppendRequest(nil, req, 1)
	t.Logf("bomb: a %d-byte produce request inflating to 1000 MiB", len(bombFrame))

	const attackers = 32
	attack := 8 * time.Second
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var bombsAnswered atomic.Int64
	codes := sync.Map{}
	for range attackers {
		wg.Go(func() {
			c, err := net.Dial("tcp", s.addr)
			if err != nil {
				t.Error(err)
				return
			}
			defer c.Close()
			for {
				select {
				case <-stop:
					return
				default:
				}
				c.SetDeadline(time.Now().Add(60 * time.Second))
				if _, err := c.Write(bombFrame); err != nil {
					t.Error(err)
					return
				}
				var size [4]byte
				if _, err := io.ReadFull(c, size[:]); err != nil {
					t.Error(err)
					return
				}
				body := make([]byte, binary.BigEndian.Uint32(size[:]))
				if _, err := io.ReadFull(c, body); err != nil {
					t.Error(err)
					return
				}
				resp := kmsg.NewPtrProduceResponse()
				resp.Version = 9
				if err := resp.ReadFrom(body[5:]); err == nil && len(resp.Topics) == 1 && len(resp.Topics[0].Partitions) == 1 {
					code := resp.Topics[0].Partitions[0].ErrorCode
					n, _ := codes.LoadOrStore(code, new(atomic.Int64))
					n.(*atomic.Int64).Add(1)
				}
				bombsAnswered.Add(1)
			}
		})
	}
	var stallers []net.Conn
	for range attackers {
		c, err := net.Dial("tcp", s.addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.Write(binary.BigEndian.AppendUint32(nil, 104857600)) // socket.request.max.bytes
		c.Write(make([]byte, 256<<10))
		stallers = append(stallers, c)
	}

	// The victim keeps producing; RSS is sampled throughout.
	var maxRSS int64
	produced, failed := 0, 0
	var worst time.Duration
	end := time.Now().Add(attack)
	for time.Now().Before(end) {
		start := time.Now()
		pctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		err := cl.ProduceSync(pctx, &kgo.Record{Value: []byte("still here")}).FirstErr()
		cancel()
		worst = max(worst, time.Since(start))
		if err != nil {
			if failed < 3 {
				t.Logf("victim produce failed: %v", err)
			}
			failed++
		} else {
			produced++
		}
		rss, _ := procMem(t, pid)
		maxRSS = max(maxRSS, rss)
	}
	close(stop)
	wg.Wait()
	rss, hwm := procMem(t, pid)
	maxRSS = max(maxRSS, rss)
	var summary []string
	codes.Range(func(k, v any) bool {
		summary = append(summary, errName(k.(int16))+"="+strconv.FormatInt(v.(*atomic.Int64).Load(), 10))
		return true
	})
	t.Logf("RSS before %d MiB; during the attack max sampled %d MiB, VmHWM %d MiB (bound %d MiB)", baseRSS>>20, maxRSS>>20, hwm>>20, rssBound>>20)
	t.Logf("%d bombs answered (%s); victim produced %d records, %d failed, slowest %v", bombsAnswered.Load(), strings.Join(summary, " "), produced, failed, worst)
	if hwm > rssBound {
		t.Errorf("broker VmHWM %d MiB over the %d MiB bound", hwm>>20, rssBound>>20)
	}
	if produced < 5 {
		t.Errorf("the victim produced only %d records in %v (%d failed)", produced, attack, failed)
	}
	for _, c := range stallers {
		c.Close()
	}
}

func errName(code int16) string {
	if code == 0 {
		return "NONE"
	}
	if e := kerr.ErrorForCode(code); e != nil {
		return e.Error()
	}
	return strconv.Itoa(int(code))
}
