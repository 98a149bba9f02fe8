package bench

import (
	"context"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sluice-io/sluice/internal/cmdline"
	"github.com/twmb/franz-go/pkg/kgo"
)

// latencyHeader is the bytes of a latency-phase value that carry the send
// time (8 bytes, little endian nanoseconds since the phase's base time) and
// a flag (1 for a measured record, 0 for a warm-up one).
const latencyHeader = 16

// benchSlot is one reusable record. It is its record's context, so the
// promise finds its send time without allocating or a map.
type benchSlot struct {
	context.Context
	rec      kgo.Record
	sent     int64 // ns since benchProducer.base
	measured bool
	busy     atomic.Bool
	val      []byte // per-slot value (latency phase)
}

// benchProducer produces from one goroutine through a ring of slots: a
// slot is free again once its promise ran, which kgo guarantees before it
// admits more than MaxBufferedRecords (smaller than the ring).
type benchProducer struct {
	cl      *kgo.Client
	topic   string
	base    time.Time
	ring    []benchSlot
	next    int
	promise func(*kgo.Record, error)

	done atomic.Int64 // promises run, for stall detection

	// Written by the promise goroutine only; read after Flush.
	acks          histogram
	acked         int64
	ackedMeasured int64
	lastAck       int64 // ns since base

	failed   atomic.Int64
	errMu    sync.Mutex
	firstErr error
}

func producerOpts(o *benchOptions, seeds []string, maxBuffered int, linger time.Duration) []kgo.Opt {
	codec, _ := cmdline.CompressionCodec(o.compression)
	opts := []kgo.Opt{
		kgo.SeedBrokers(seeds...),
		kgo.ClientID("sluice-bench"),
		kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.ProducerBatchMaxBytes(int32(o.batchBytes)),
		kgo.ProducerLinger(linger),
		kgo.MaxBufferedRecords(maxBuffered),
		kgo.ProducerBatchCompression(codec),
	}
	switch o.acks {
	case "all":
		opts = append(opts, kgo.RequiredAcks(kgo.AllISRAcks()))
	case "1":
		opts = append(opts, kgo.RequiredAcks(kgo.LeaderAck()))
	case "0":
		opts = append(opts, kgo.RequiredAcks(kgo.NoAck()))
	}
	if !o.idempotent {
		// Idempotent producers keep up to 5 requests in flight per broker;
		// allow the same without idempotency.
		opts = append(opts, kgo.DisableIdempotentWrite(), kgo.MaxProduceRequestsInflightPerBroker(5))
	}
	return opts
}

func newBenchProducer(o *benchOptions, seeds []string, maxBuffered int, linger time.Duration, slotValues bool, extra ...kgo.Opt) (*benchProducer, error) {
	cl, err := kgo.NewClient(append(producerOpts(o, seeds, maxBuffered, linger), extra...)...)
	if err != nil {
		return nil, err
	}
	p := &benchProducer{cl: cl, topic: o.topic, ring: make([]benchSlot, nextPow2(maxBuffered+1)), base: time.Now()}
	p.promise = p.onAck
	if slotValues {
		rng := rand.NewChaCha8([32]byte{1})
		for i := range p.ring {
			p.ring[i].val = make([]byte, o.recordSize)
			rng.Read(p.ring[i].val)
		}
	}
	return p, nil
}

// produce sends one record with value val (or, when val is nil, the slot's
// own value with the send time and flag written into it). It returns false
// when ctx ended while waiting for a free slot.
func (p *benchProducer) produce(ctx context.Context, part int32, val []byte, measured bool) bool {
	s := &p.ring[p.next&(len(p.ring)-1)]
	p.next++
	for spins := 0; s.busy.Load(); spins++ {
		// Only when promises complete out of order across partitions.
		if ctx.Err() != nil {
			return false
		}
		if spins < 100 {
			runtime.Gosched()
		} else {
			time.Sleep(50 * time.Microsecond)
		}
	}
	s.busy.Store(true)
	s.Context = ctx
	s.measured = measured
	s.sent = int64(time.Since(p.base))
	if val == nil {
		val = s.val
		binary.LittleEndian.PutUint64(val, uint64(s.sent))
		val[8] = 0
		if measured {
			val[8] = 1
		}
	}
	s.rec = kgo.Record{Topic: p.topic, Partition: part, Value: val, Context: s}
	p.cl.Produce(ctx, &s.rec, p.promise)
	return true
}

func (p *benchProducer) onAck(r *kgo.Record, err error) {
	s := r.Context.(*benchSlot)
	now := int64(time.Since(p.base))
	if err != nil {
		p.errMu.Lock()
		if p.firstErr == nil {
			p.firstErr = err
		}
		p.errMu.Unlock()
		p.failed.Add(1)
	} else {
		p.acked++
		if s.measured {
			p.ackedMeasured++
			p.acks.record(now - s.sent)
		}
		p.lastAck = max(p.lastAck, now)
	}
	s.busy.Store(false)
	p.done.Add(1)
}

// failure returns an error describing failed records, or nil.
func (p *benchProducer) failure() error {
	n := p.failed.Load()
	if n == 0 {
		return nil
	}
	p.errMu.Lock()
	defer p.errMu.Unlock()
	return fmt.Errorf("%d records failed, first: %w", n, p.firstErr)
}

// flush waits for every promise, failing if none completes for the stall
// timeout.
func (p *benchProducer) flush(ctx context.Context, stall time.Duration) error {
	wctx, stop := stallWatch(ctx, stall, p.done.Load)
	defer stop()
	if err := p.cl.Flush(wctx); err != nil {
		if c := context.Cause(wctx); c != nil && ctx.Err() == nil {
			return c
		}
		return err
	}
	return nil
}

// commit flushes the open transaction and commits it; kgo's
// EndTransaction does not flush, and a record still buffered would miss
// its transaction.
func (p *benchProducer) commit(ctx context.Context, stall time.Duration) error {
	if err := p.flush(ctx, stall); err != nil {
		return err
	}
	if err := p.failure(); err != nil {
		return err
	}
	return p.cl.EndTransaction(ctx, kgo.TryCommit)
}

// stallWatch returns a context that is cancelled, with a cause, when
// progress stops advancing for d.
func stallWatch(ctx context.Context, d time.Duration, progress func() int64) (context.Context, func()) {
	wctx, cancel := context.WithCancelCause(ctx)
	stop := make(chan struct{})
	go func() {
		t := time.NewTicker(min(time.Second, d))
		defer t.Stop()
		last, since := progress(), time.Now()
		for {
			select {
			case <-stop:
				return
			case <-wctx.Done():
				return
			case <-t.C:
				if v := progress(); v != last {
					last, since = v, time.Now()
				} else if time.Since(since) >= d {
					cancel(fmt.Errorf("stalled: no progress for %s", d))
					return
				}
			}
		}
	}()
	return wctx, func() { close(stop); cancel(nil) }
}

// producerBuffer is how many records the throughput producer keeps
// buffered: enough for about ten full batches per partition, so the five
// requests kgo keeps in flight are always full.
func producerBuffer(o *benchOptions) int {
	perBatch := max(1, o.batchBytes/(o.recordSize+16))
	return min(max(10*perBatch*o.partitions, 10_000), 1<<20)
}

func producePhase(ctx context.Context, o *benchOptions, seeds []string, meter *brokerMeter) (*throughputResult, error) {
	var extra []kgo.Opt
	if o.txnRecords > 0 {
		extra = append(extra, kgo.TransactionalID(fmt.Sprintf("sluice-bench-%d", os.Getpid())))
	}
	nprod := max(o.producers, 1)
	ps := make([]*benchProducer, 0, nprod)
	defer func() {
		for _, p := range ps {
			p.cl.Close()
		}
	}()
	for range nprod {
		p, err := newBenchProducer(o, seeds, max(producerBuffer(o)/nprod, 1000), o.linger, false, extra...)
		if err != nil {
			return nil, err
		}
		ps = append(ps, p)
	}
	value := make([]byte, o.recordSize)
	rand.NewChaCha8([32]byte{}).Read(value)

	done := func() int64 {
		var n int64
		for _, p := range ps {
			n += p.done.Load()
		}
		return n
	}
	pctx, stop := stallWatch(ctx, o.stallTimeout, done)
	defer stop()
	meter.start()
	base := time.Now()
	stopProgress := cmdline.Progress(o.progress, func() string {
		return fmt.Sprintf("produce: %s of %s records acknowledged", commas(done()), commas(o.records))
	})
	defer stopProgress()
	errs := make([]error, nprod)
	var wg sync.WaitGroup
	for i, p := range ps {
		p.base = base
		// Producer i sends records i, i+n, i+2n, ... of the run, so the
		// producers together cover every partition evenly.
		n := o.records / int64(nprod)
		if int64(i) < o.records%int64(nprod) {
			n++
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = p.run(pctx, o, n, int32(i%o.partitions), value)
		}()
	}
	wg.Wait()
	var err error
	for _, e := range errs {
		if e != nil {
			err = e
			break
		}
	}
	if err == nil && pctx.Err() != nil {
		err = context.Cause(pctx)
	}
	var (
		acked, lastAck int64
		acks           histogram
	)
	for _, p := range ps {
		if ferr := p.failure(); ferr != nil {
			err = ferr
		}
		acked += p.acked
		lastAck = max(lastAck, p.lastAck)
		acks.merge(&p.acks)
	}
	elapsed := time.Duration(lastAck)
	if elapsed <= 0 {
		elapsed = time.Since(base)
	}
	n := acked * int64(o.recordSize)
	res := throughput(acked, n, elapsed)
	res.AckLatency = acks.summary()
	res.Broker = meter.stop(n, elapsed)
	res.ClientCPUSeconds = meter.selfCPU
	return res, err
}

// run produces records records of value, starting at partition part and
// cycling through the topic's partitions, in transactions if o asks for
// them, and waits for every ack.
func (p *benchProducer) run(ctx context.Context, o *benchOptions, records int64, part int32, value []byte) error {
	var txnErr error
	for i := int64(0); i < records; i++ {
		if i&1023 == 0 && (p.failed.Load() != 0 || ctx.Err() != nil) {
			break
		}
		if o.txnRecords > 0 && i%o.txnRecords == 0 {
			if txnErr = p.cl.BeginTransaction(); txnErr != nil {
				break
			}
		}
		if !p.produce(ctx, part, value, true) {
			break
		}
		if part++; int(part) == o.partitions {
			part = 0
		}
		if o.txnRecords > 0 && ((i+1)%o.txnRecords == 0 || i+1 == records) {
			if txnErr = p.commit(ctx, o.stallTimeout); txnErr != nil {
				break
			}
		}
	}
	err := p.flush(ctx, o.stallTimeout)
	if err == nil {
		err = txnErr
	}
	return err
}

func throughput(records, bytes int64, elapsed time.Duration) *throughputResult {
	sec := elapsed.Seconds()
	if sec <= 0 {
		return &throughputResult{Records: records, Bytes: bytes}
	}
	return &throughputResult{
		Records: records, Bytes: bytes, Seconds: sec,
		MBPerSec: float64(bytes) / 1e6 / sec, RecordsPerSec: float64(records) / sec,
	}
}
