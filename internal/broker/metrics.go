package broker

// The broker's side of the metrics (internal/metrics): metricsSource is
// the state read at scrape time (partitions and their counters, consumer
// groups and their lag, transactions, waiting long polls); the request
// path, listeners, quotas and log lifecycle record events through
// b.metrics, which is nil (recording nothing) when the operations
// listener is off.

import (
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice-io/sluice/internal/log"
	"github.com/sluice-io/sluice/internal/metrics"
)

// maxLagBatchRead bounds the batch read to find the timestamp of a
// group's next record; above it the batch's first timestamp stands in.
const maxLagBatchRead = 64 << 10

// metricsSource is the broker state the metrics read at scrape time.
type metricsSource struct {
	b *Broker

	// The timestamps of the records groups consume next, from the last
	// scrape: a stalled group (the costly case, lagging on many
	// partitions) is not read again while its offset stays.
	tsMu    sync.Mutex
	tsCache map[lagKey]int64
}

type lagKey struct {
	p   *partition
	off int64
}

func (s *metricsSource) Partitions() []metrics.PartitionStats {
	ps := s.b.allPartitions()
	out := make([]metrics.PartitionStats, 0, len(ps))
	for _, p := range ps {
		if p.log.NotCreated() {
			out = append(out, metrics.PartitionStats{Topic: p.topic, Partition: p.index})
			continue
		}
		if p.log.Dormant() {
			continue // not loaded (log/lazy.go): a scrape does not load it
		}
		out = append(out, metrics.PartitionStats{
			Topic: p.topic, Partition: p.index,
			BytesIn: p.bytesIn.Load(), RecordsIn: p.recordsIn.Load(),
			BytesOut: p.bytesOut.Load(), RecordsOut: p.recordsOut.Load(),
			Size: p.log.Size(), Segments: p.log.NumSegments(),
			HighWatermark: p.log.HighWatermark(), LogStartOffset: p.log.LogStartOffset(),
		})
	}
	return out
}

func (s *metricsSource) Groups(now time.Time) []metrics.GroupStats {
	b := s.b
	s.tsMu.Lock() // one scrape's lag at a time; the cache is rebuilt by each
	defer s.tsMu.Unlock()
	seen := map[lagKey]int64{}
	defer func() { s.tsCache = seen }()
	var out []metrics.GroupStats
	for _, l := range b.groups.ListGroups() {
		g := metrics.GroupStats{Group: l.Group, Type: l.Type, State: l.StateName}
		switch l.Type {
		case "consumer":
			g.Members = len(b.groups.DescribeConsumerGroup(l.Group).Members)
		default:
			if d, ok := b.groups.DescribeGroup(l.Group); ok {
				g.Members = len(d.Members)
			}
		}
		topics, err := b.groups.FetchOffsets(l.Group, nil)
		if err == nil {
			for _, t := range topics {
				for _, tp := range t.Partitions {
					if pl, ok := s.lag(t.Topic, tp, now, seen); ok {
						g.Lag = append(g.Lag, pl)
					}
				}
			}
		}
		out = append(out, g)
	}
	return out
}

// lag is a group's lag on one partition: offsets to the high watermark,
// and now minus the timestamp of the record at the committed offset (the
// next one the group consumes; the log start when that is gone).
func (s *metricsSource) lag(topic string, tp kmsg.OffsetFetchResponseGroupTopicPartition, now time.Time, seen map[lagKey]int64) (metrics.PartitionLag, bool) {
	p := s.b.partition(topic, tp.Partition)
	if p == nil || tp.Offset < 0 {
		return metrics.PartitionLag{}, false
	}
	pl := metrics.PartitionLag{Topic: topic, Partition: tp.Partition, Committed: tp.Offset}
	hw := p.log.HighWatermark()
	if tp.Offset >= hw {
		return pl, true
	}
	pl.Lag = hw - tp.Offset
	k := lagKey{p, max(tp.Offset, p.log.LogStartOffset())}
	ts, ok := seen[k]
	if !ok {
		if ts, ok = s.tsCache[k]; !ok {
			var found bool
			if ts, found = recordTimestamp(p.log, k.off); !found {
				ts = -1
			}
		}
		seen[k] = ts
	}
	if ts >= 0 {
		pl.LagSeconds = max(0, now.Sub(time.UnixMilli(ts)).Seconds())
	}
	return pl, true
}

// recordTimestamp is the timestamp of the first data record at or after
// off, looking past a few control batches (transaction markers).
func recordTimestamp(l *log.Log, off int64) (int64, bool) {
	for range 4 {
		ts, next, ok := batchTimestamp(l, off)
		if ok || next <= off {
			return ts, ok
		}
		off = next
	}
	return 0, false
}

// batchTimestamp is the timestamp of the first data record at or after
// off in the batch holding off; when that batch has none (a control batch,
// or records before off only), next is the offset after it.
func batchTimestamp(l *log.Log, off int64) (ts, next int64, ok bool) {
	rr, err := l.Read(off, 1, true)
	next = rr.NextOffset
	if err != nil || rr.Size() == 0 {
		rr.Release()
		return 0, next, false
	}
	if rr.Size() > maxLagBatchRead {
		defer rr.Release()
		f, pos, _ := rr.File()
		hdr := make([]byte, 61) // a v2 batch header
		if _, err := f.ReadAt(hdr, pos); err != nil {
			return 0, next, false
		}
		h, err := log.ParseBatchHeader(hdr)
		if err != nil || h.FirstTimestamp < 0 {
			return 0, next, false
		}
		if h.LogAppendTime() {
			return h.MaxTimestamp, next, true
		}
		return h.FirstTimestamp, next, true
	}
	buf, err := rr.AppendTo(nil)
	if err != nil {
		return 0, next, false
	}
	for len(buf) > 0 {
		h, err := log.ParseBatchHeader(buf)
		if err != nil || h.Size() > len(buf) {
			return 0, next, false
		}
		batch := buf[:h.Size()]
		buf = buf[h.Size():]
		if h.Control() || h.LastOffset() < off {
			continue
		}
		recs, err := log.DecodeRecords(batch)
		if err != nil {
			return 0, next, false
		}
		for _, r := range recs {
			if r.Offset >= off && r.Timestamp >= 0 {
				return r.Timestamp, next, true
			}
		}
	}
	return 0, next, false
}

func (s *metricsSource) Transactions() map[string]int {
	out := map[string]int{}
	if s.b.txns == nil {
		return out
	}
	for _, in := range s.b.allTxns() {
		out[in.State.String()]++
	}
	return out
}

func (s *metricsSource) FetchWaiting() int { return int(s.b.fetchWaiting.Load()) }

func (s *metricsSource) Logs() metrics.LogStats {
	var st metrics.LogStats
	for _, p := range s.b.allPartitions() {
		if !p.log.Dormant() {
			st.Loaded++
		}
	}
	if c := s.b.lc.files; c != nil {
		cs := c.Stats()
		st.Capped, st.CappedFiles, st.IdleClosed = true, cs.Files, cs.Sleeps
	}
	return st
}

// monoEpoch is the origin of monoNow.
var monoEpoch = time.Now()

// monoNow is a reading of the monotonic clock: one clock read, where
// time.Now also reads the wall clock (twice the cost on a virtual
// machine's clock source). For the request metrics' intervals only.
func monoNow() time.Duration { return time.Since(monoEpoch) }

// observeRequest records a request's times (monoNow readings; read: the
// frame was read; start: the handler began; handled: it returned; the
// response has just been written) and its response's error codes.
func (b *Broker) observeRequest(r *request, resp kmsg.Response, read, start, handled time.Duration) {
	api := b.metrics.API(r.key)
	if api == nil {
		return
	}
	now := monoNow()
	api.ObserveStripe(r.c.stripe, start-read, handled-start-r.waited, r.waited, now-handled, now-read)
	if sr, ok := resp.(*splicedResponse); ok {
		resp = sr.Response
	}
	if resp != nil {
		metrics.ErrorCodes(resp, api.Error)
	}
}

// quotaTypeName labels throttle time by the quota that applies first to
// an API: byte rate for Produce and Fetch, request time for the others.
func quotaTypeName(key int16) string {
	switch key {
	case 0:
		return "produce"
	case 1:
		return "fetch"
	}
	return "request"
}
