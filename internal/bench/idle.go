package bench

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sluice-io/sluice/internal/cmdline"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// setUpIdleLoad creates and fills o's extra topic and opens its idle
// connections, recording both in tr.Load. It returns the connections (nil
// without --idle-conns) and a cleanup, to call even on error, that closes
// them and deletes the extra topic.
func setUpIdleLoad(ctx context.Context, o *benchOptions, tr *targetResult, seeds []string, adm *kadm.Client, pid int, out io.Writer) (*idleConnSet, func(), error) {
	if o.idleConns == 0 && o.extraPartitions == 0 {
		return nil, func() {}, nil
	}
	load := &loadResult{}
	tr.Load = load
	if pid > 0 {
		load.BrokerRSSBeforeBytes, _, _ = procMemory(pid)
	}
	var cleanups []func()
	cleanup := func() {
		for i := len(cleanups) - 1; i >= 0; i-- {
			cleanups[i]()
		}
	}
	if o.extraPartitions > 0 {
		topic := o.extraTopic()
		cleanups = append(cleanups, func() {
			dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
			adm.DeleteTopic(dctx, topic) // best effort
			cancel()
		})
		start := time.Now()
		if err := fillExtraTopic(ctx, adm, seeds, topic, o.extraPartitions); err != nil {
			return nil, cleanup, fmt.Errorf("extra partitions: %w", err)
		}
		load.ExtraTopic, load.ExtraPartitions, load.ExtraSetupSeconds = topic, o.extraPartitions, time.Since(start).Seconds()
		if out != nil {
			fmt.Fprintf(out, "  %-12s topic %q: %s partition%s with one record each, set up in %.3f s\n",
				"idle load", topic, commas(int64(load.ExtraPartitions)), cmdline.Plural(load.ExtraPartitions), load.ExtraSetupSeconds)
		}
	}
	var idle *idleConnSet
	if o.idleConns > 0 {
		start := time.Now()
		var err error
		if idle, err = openIdleConns(ctx, seeds, o.idleConns); err != nil {
			return nil, cleanup, fmt.Errorf("idle connections: %w", err)
		}
		cleanups = append(cleanups, func() { idle.close() })
		load.IdleConns, load.IdleSetupSeconds = o.idleConns, time.Since(start).Seconds()
		if out != nil {
			fmt.Fprintf(out, "  %-12s %s idle connection%s, one ApiVersions each, opened in %.3f s\n",
				"idle load", commas(int64(load.IdleConns)), cmdline.Plural(load.IdleConns), load.IdleSetupSeconds)
		}
	}
	if pid > 0 {
		load.BrokerRSSAfterBytes, _, _ = procMemory(pid)
		if out != nil && load.BrokerRSSBeforeBytes > 0 && load.BrokerRSSAfterBytes > 0 {
			fmt.Fprintf(out, "    %-10s RSS %.1f MiB before the idle load, %.1f MiB after\n", "broker",
				float64(load.BrokerRSSBeforeBytes)/(1<<20), float64(load.BrokerRSSAfterBytes)/(1<<20))
		}
	}
	return idle, cleanup, nil
}

// fillExtraTopic creates topic with the given partitions and writes one
// small record to each, checking every partition's end offset.
func fillExtraTopic(ctx context.Context, adm *kadm.Client, seeds []string, topic string, partitions int) error {
	if err := createTopic(ctx, adm, topic, partitions, nil); err != nil {
		return fmt.Errorf("creating topic %q: %w", topic, err)
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(seeds...), kgo.ClientID("sluice-bench"),
		kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		return err
	}
	defer cl.Close()
	val := []byte("sluice bench: a record in an idle partition")
	recs := make([]*kgo.Record, partitions)
	for i := range recs {
		recs[i] = &kgo.Record{Topic: topic, Partition: int32(i), Value: val}
	}
	// A first use of a partition costs fsyncs, and more under
	// log.open.files.max, which closes others to load it: 100,000
	// partitions under a cap of 4,096 took about 4 minutes here.
	pctx, cancel := context.WithTimeout(ctx, max(120*time.Second, time.Duration(partitions)*10*time.Millisecond))
	defer cancel()
	if err := cl.ProduceSync(pctx, recs...).FirstErr(); err != nil {
		return fmt.Errorf("producing to topic %q: %w", topic, err)
	}
	ends, err := adm.ListEndOffsets(pctx, topic)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		return fmt.Errorf("listing end offsets of topic %q: %w", topic, err)
	}
	filled := 0
	ends.Each(func(lo kadm.ListedOffset) {
		if lo.Topic == topic && lo.Offset >= 1 {
			filled++
		}
	})
	if filled != partitions {
		return fmt.Errorf("topic %q: %d of %d partitions hold a record", topic, filled, partitions)
	}
	return nil
}

// idleConnSet holds connections that each completed one ApiVersions and
// then stay silent. A goroutine per connection, blocked in Read, notices
// the broker closing one (or, unexpectedly, sending on it).
type idleConnSet struct {
	conns   []net.Conn
	lost    atomic.Int64 // closed by the broker (or sent on) while idle
	closing atomic.Bool
	wg      sync.WaitGroup
	once    sync.Once
	open    int
}

// openIdleConns opens n connections, round robin over seeds, a few at a
// time.
func openIdleConns(ctx context.Context, seeds []string, n int) (*idleConnSet, error) {
	s := &idleConnSet{conns: make([]net.Conn, n)}
	f := kmsg.NewRequestFormatter(kmsg.FormatterClientID("sluice-bench-idle"))
	var (
		next   atomic.Int64
		failed atomic.Bool
		errMu  sync.Mutex
		first  error
		wg     sync.WaitGroup
	)
	for range min(n, 32) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !failed.Load() {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				c, err := dialAPIVersions(ctx, seeds[i%len(seeds)], f, int32(i))
				if err != nil {
					errMu.Lock()
					if first == nil {
						first = fmt.Errorf("connection %d of %d: %w", i+1, n, err)
					}
					errMu.Unlock()
					failed.Store(true)
					return
				}
				s.conns[i] = c
			}
		}()
	}
	wg.Wait()
	if first != nil {
		s.close()
		return nil, first
	}
	for _, c := range s.conns {
		s.wg.Add(1)
		go s.watch(c)
	}
	return s, nil
}

// dialAPIVersions connects to addr and completes one ApiVersions v3
// request and response.
func dialAPIVersions(ctx context.Context, addr string, f *kmsg.RequestFormatter, corrID int32) (net.Conn, error) {
	d := net.Dialer{Timeout: 10 * time.Second}
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	fail := func(err error) (net.Conn, error) {
		c.Close()
		return nil, err
	}
	c.SetDeadline(time.Now().Add(10 * time.Second))
	req := kmsg.NewPtrApiVersionsRequest()
	req.Version = 3
	req.ClientSoftwareName, req.ClientSoftwareVersion = "sluice-bench", "1"
	if _, err := c.Write(f.AppendRequest(nil, req, corrID)); err != nil {
		return fail(fmt.Errorf("sending ApiVersions: %w", err))
	}
	// ApiVersions responses always have header v0: the correlation id.
	var sizeBuf [4]byte
	if _, err := io.ReadFull(c, sizeBuf[:]); err != nil {
		return fail(fmt.Errorf("reading the ApiVersions response: %w", err))
	}
	size := int32(binary.BigEndian.Uint32(sizeBuf[:]))
	if size < 4 || size > 1<<20 {
		return fail(fmt.Errorf("ApiVersions response size %d", size))
	}
	body := make([]byte, size)
	if _, err := io.ReadFull(c, body); err != nil {
		return fail(fmt.Errorf("reading the ApiVersions response: %w", err))
	}
	if got := int32(binary.BigEndian.Uint32(body)); got != corrID {
		return fail(fmt.Errorf("ApiVersions response correlation id %d, want %d", got, corrID))
	}
	resp := kmsg.NewPtrApiVersionsResponse()
	resp.Version = req.Version
	if err := resp.ReadFrom(body[4:]); err != nil {
		return fail(fmt.Errorf("decoding the ApiVersions response: %w", err))
	}
	if err := kerr.ErrorForCode(resp.ErrorCode); err != nil {
		return fail(fmt.Errorf("ApiVersions: %w", err))
	}
	if len(resp.ApiKeys) == 0 {
		return fail(errors.New("ApiVersions response lists no APIs"))
	}
	c.SetDeadline(time.Time{})
	return c, nil
}

func (s *idleConnSet) watch(c net.Conn) {
	defer s.wg.Done()
	var b [1]byte
	c.Read(b[:]) // returns when the broker closes the connection, or at close
	if !s.closing.Load() {
		s.lost.Add(1)
	}
}

// close closes every connection and returns how many were still open. It
// may be called more than once.
func (s *idleConnSet) close() int {
	s.once.Do(func() {
		n := 0
		for _, c := range s.conns {
			if c != nil {
				n++
			}
		}
		s.open = n - int(s.lost.Load())
		s.closing.Store(true)
		for _, c := range s.conns {
			if c != nil {
				c.Close()
			}
		}
		s.wg.Wait()
	})
	return s.open
}

// createTopic creates the topic, deleting it first if it exists, and waits
// until every partition has a leader.
func createTopic(ctx context.Context, adm *kadm.Client, topic string, partitions int, configs map[string]*string) error {
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	deleted := false
	for {
		_, err := adm.CreateTopic(ctx, int32(partitions), 1, configs, topic)
		if err == nil {
			break
		}
		if !errors.Is(err, kerr.TopicAlreadyExists) {
			return err
		}
		if !deleted {
			if _, err := adm.DeleteTopic(ctx, topic); err != nil && !errors.Is(err, kerr.UnknownTopicOrPartition) {
				return fmt.Errorf("deleting the existing topic: %w", err)
			}
			deleted = true
		}
		if err := sleepCtx(ctx, 100*time.Millisecond); err != nil {
			return fmt.Errorf("topic still exists after deleting it: %w", err)
		}
	}
	for {
		md, err := adm.Metadata(ctx, topic)
		if err == nil {
			t, ok := md.Topics[topic]
			ready := ok && t.Err == nil && len(t.Partitions) == partitions
			if ready {
				for _, p := range t.Partitions {
					if p.Err != nil || p.Leader < 0 {
						ready = false
					}
				}
			}
			if ready {
				return nil
			}
		}
		if err := sleepCtx(ctx, 50*time.Millisecond); err != nil {
			return fmt.Errorf("waiting for partition leaders: %w", err)
		}
	}
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
