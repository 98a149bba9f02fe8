package bench

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

func latencyPhase(ctx context.Context, o *benchOptions, seeds []string, adm *kadm.Client, meter *brokerMeter) (*latencyResult, error) {
	// The consumer starts at the current end so it sees only this phase.
	ends, err := adm.ListEndOffsets(ctx, o.topic)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		return nil, fmt.Errorf("listing end offsets: %w", err)
	}
	offsets := map[int32]kgo.Offset{}
	for p := range o.partitions {
		off := kgo.NewOffset().AtEnd()
		if lo, ok := ends.Lookup(o.topic, int32(p)); ok && lo.Offset >= 0 {
			off = kgo.NewOffset().At(lo.Offset)
		}
		offsets[int32(p)] = off
	}
	ccl, err := kgo.NewClient(consumerOpts(o, seeds, offsets)...)
	if err != nil {
		return nil, err
	}
	defer ccl.Close()
	bufRecs := min(max(64<<20/o.recordSize, 16), 4096)
	p, err := newBenchProducer(o, seeds, bufRecs, 0, true)
	if err != nil {
		return nil, err
	}
	defer p.cl.Close()
	base := p.base

	var (
		e2e      histogram // written by the consumer goroutine
		received atomic.Int64
		warm     atomic.Bool
		cerr     error
		cdone    = make(chan struct{})
	)
	cctx, ccancel := context.WithCancel(ctx)
	defer ccancel()
	go func() {
		defer close(cdone)
		for cctx.Err() == nil {
			fs := ccl.PollFetches(cctx)
			now := int64(time.Since(base))
			for _, fe := range fs.Errors() {
				if cctx.Err() == nil {
					cerr = fmt.Errorf("consuming partition %d: %w", fe.Partition, fe.Err)
				}
				return
			}
			fs.EachRecord(func(r *kgo.Record) {
				if v := r.Value; len(v) >= latencyHeader {
					if v[8] == 1 {
						e2e.record(now - int64(binary.LittleEndian.Uint64(v)))
						received.Add(1)
					} else {
						warm.Store(true)
					}
				}
				r.Recycle()
			})
		}
	}()
	consumerFailed := func() error {
		select {
		case <-cdone:
			if cerr == nil {
				return ctx.Err()
			}
			return cerr
		default:
			return nil
		}
	}

	// Producing blocks once the buffer is full: give up if acks stop.
	pctx, stop := stallWatch(ctx, o.stallTimeout, p.done.Load)
	defer stop()
	var part int32
	send := func(measured bool) bool {
		ok := p.produce(pctx, part, nil, measured)
		if part++; int(part) == o.partitions {
			part = 0
		}
		return ok
	}
	// pace sends records at o.rate until n are sent or until() is true.
	pace := func(n int64, measured bool, until func() bool) (int64, error) {
		start := time.Now()
		var sent int64
		for sent < n {
			if until != nil && until() {
				break
			}
			if err := consumerFailed(); err != nil {
				return sent, err
			}
			if err := p.failure(); err != nil {
				return sent, err
			}
			due := min(int64(time.Since(start).Seconds()*float64(o.rate))+1, n)
			for ; sent < due; sent++ {
				if !send(measured) {
					return sent, context.Cause(pctx)
				}
			}
			next := start.Add(time.Duration(float64(sent) / float64(o.rate) * 1e9))
			if d := time.Until(next); d > 0 {
				if sleepCtx(pctx, d) != nil {
					return sent, context.Cause(pctx)
				}
			}
		}
		return sent, nil
	}

	// Warm up (connections, metadata, producer id, the first fetch) until
	// a record has made the round trip.
	warmN, err := pace(int64(10*time.Second.Seconds()*float64(o.rate))+1, false, warm.Load)
	if err != nil {
		return nil, err
	}
	if !warm.Load() {
		return nil, errors.New("no record came back through the consumer within 10s")
	}

	meter.start()
	start := time.Now()
	total := int64(math.Round(o.duration.Seconds() * float64(o.rate)))
	sent, err := pace(total, true, nil)
	if err != nil {
		return nil, err
	}
	sendTime := time.Since(start)
	if err := p.flush(pctx, o.stallTimeout); err != nil {
		return nil, err
	}
	if err := p.failure(); err != nil {
		return nil, err
	}
	// Wait for the consumer to see every acknowledged record.
	deadline := time.Now().Add(o.stallTimeout)
	for received.Load() < p.ackedMeasured && time.Now().Before(deadline) {
		if err := consumerFailed(); err != nil {
			return nil, err
		}
		time.Sleep(time.Millisecond)
	}
	elapsed := time.Since(start)
	ccancel()
	<-cdone
	if cerr != nil {
		return nil, cerr
	}
	usage := meter.stop(0, elapsed) // CPU per GB means little at a low fixed rate
	return &latencyResult{
		Rate: o.rate, Seconds: sendTime.Seconds(), Sent: sent, Acked: p.ackedMeasured,
		Received: received.Load(), AchievedRate: float64(sent) / sendTime.Seconds(), WarmupRecords: warmN,
		EndToEnd: e2e.summary(), Ack: p.acks.summary(), Broker: usage, ClientCPUSeconds: meter.selfCPU,
	}, nil
}
