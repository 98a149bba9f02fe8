package metrics

import (
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Source is the broker state read at scrape time. Its methods are called
// from the scrape's goroutine and must be safe for concurrent use with the
// broker.
type Source interface {
	// Partitions lists every partition with its counters.
	Partitions() []PartitionStats
	// Groups lists every live consumer group, with the lag of each
	// partition it has committed an offset for, measured at now.
	Groups(now time.Time) []GroupStats
	// Transactions counts the transactional ids by state name (Kafka's
	// TransactionState names: Empty, Ongoing, PrepareCommit, ...).
	Transactions() map[string]int
	// FetchWaiting is the number of fetches parked in a long poll.
	FetchWaiting() int
}

// PartitionStats is one partition's state and counters. The counters
// count since the partition was opened (they restart with the broker).
type PartitionStats struct {
	Topic                string
	Partition            int32
	BytesIn, RecordsIn   uint64 // appended by produce requests
	BytesOut, RecordsOut uint64 // served to fetches (records: offsets served)
	Size                 int64  // log size, bytes
	Segments             int
	HighWatermark        int64
	LogStartOffset       int64
}

// GroupStats is one consumer group.
type GroupStats struct {
	Group   string
	Type    string // classic or consumer
	State   string // as ListGroups reports it
	Members int
	Lag     []PartitionLag
}

// PartitionLag is a group's lag on one partition.
type PartitionLag struct {
	Topic     string
	Partition int32
	Committed int64 // the committed offset: the next record to consume
	Lag       int64 // high watermark - committed, 0 when caught up
	// LagSeconds is now minus the timestamp of the record at Committed,
	// 0 when caught up.
	LagSeconds float64
}

// stateCollector exports Source at scrape time.
type stateCollector struct {
	src      Source
	now      func() time.Time
	maxParts int

	// per partition
	pBytesIn, pBytesOut, pRecIn, pRecOut, pSize, pSegs, pHW, pLSO *prometheus.Desc
	// per topic
	tBytesIn, tBytesOut, tRecIn, tRecOut, tSize, tSegs, tParts *prometheus.Desc
	partitionsDropped                                          *prometheus.Desc
	// groups
	gLag, gLagSec, gCommitted, gTopicLag, gTopicLagSec, gMembers, gState, groups *prometheus.Desc
	txns, fetchWaiting                                                           *prometheus.Desc
}

func newStateCollector(o Options) *stateCollector {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc(Namespace+"_"+name, help, labels, nil)
	}
	tp := []string{"topic", "partition"}
	gtp := []string{"group", "topic", "partition"}
	return &stateCollector{
		src: o.Source, now: o.Now, maxParts: o.PartitionSeriesMax,

		pBytesIn:  d("partition_bytes_in_total", "Record bytes appended by produce requests.", tp...),
		pBytesOut: d("partition_bytes_out_total", "Record bytes served to fetch requests.", tp...),
		pRecIn:    d("partition_records_in_total", "Records appended by produce requests.", tp...),
		pRecOut:   d("partition_records_out_total", "Offsets served to fetch requests (records, less those removed by compaction).", tp...),
		pSize:     d("partition_log_size_bytes", "Size of the partition's log on disk.", tp...),
		pSegs:     d("partition_log_segments", "Segments of the partition's log.", tp...),
		pHW:       d("partition_high_watermark", "High watermark (log end offset on a single node).", tp...),
		pLSO:      d("partition_log_start_offset", "Log start offset.", tp...),

		tBytesIn:          d("topic_bytes_in_total", "Record bytes appended by produce requests.", "topic"),
		tBytesOut:         d("topic_bytes_out_total", "Record bytes served to fetch requests.", "topic"),
		tRecIn:            d("topic_records_in_total", "Records appended by produce requests.", "topic"),
		tRecOut:           d("topic_records_out_total", "Offsets served to fetch requests.", "topic"),
		tSize:             d("topic_log_size_bytes", "Size of the topic's logs on disk.", "topic"),
		tSegs:             d("topic_log_segments", "Segments of the topic's logs.", "topic"),
		tParts:            d("topic_partitions", "Partitions of the topic.", "topic"),
		partitionsDropped: d("metrics_partition_series_dropped", "1 when there are more partitions than metrics.partition.series.max and per-partition series are left out, else 0."),

		gLag:         d("consumer_group_lag", "Offsets between a group's committed offset and the high watermark.", gtp...),
		gLagSec:      d("consumer_group_lag_seconds", "Now minus the timestamp of the next record the group will consume; 0 when caught up.", gtp...),
		gCommitted:   d("consumer_group_committed_offset", "The group's committed offset.", gtp...),
		gTopicLag:    d("consumer_group_topic_lag", "Sum of a group's lag over a topic's partitions.", "group", "topic"),
		gTopicLagSec: d("consumer_group_topic_max_lag_seconds", "Largest time lag of a group over a topic's partitions.", "group", "topic"),
		gMembers:     d("consumer_group_members", "Members of the group.", "group"),
		gState:       d("consumer_group_state", "1 for the group's current state.", "group", "type", "state"),
		groups:       d("consumer_groups", "Consumer groups by state.", "state"),

		txns:         d("transactions", "Transactional ids by transaction state.", "state"),
		fetchWaiting: d("fetch_long_polls_waiting", "Fetches parked in a long poll waiting for data or fetch.max.wait.ms (Kafka's fetch purgatory size)."),
	}
}

func (c *stateCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.pBytesIn, c.pBytesOut, c.pRecIn, c.pRecOut, c.pSize, c.pSegs, c.pHW, c.pLSO,
		c.tBytesIn, c.tBytesOut, c.tRecIn, c.tRecOut, c.tSize, c.tSegs, c.tParts, c.partitionsDropped,
		c.gLag, c.gLagSec, c.gCommitted, c.gTopicLag, c.gTopicLagSec, c.gMembers, c.gState, c.groups, c.txns, c.fetchWaiting} {
		ch <- d
	}
}

type topicSum struct {
	bytesIn, bytesOut, recIn, recOut uint64
	size                             int64
	segs, parts                      int
}

func (c *stateCollector) Collect(ch chan<- prometheus.Metric) {
	counter := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v, labels...)
	}
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	parts := c.src.Partitions()
	perPartition := c.maxParts >= 0 && len(parts) <= c.maxParts
	dropped := 0.0
	if !perPartition {
		dropped = 1
	}
	gauge(c.partitionsDropped, dropped)
	topics := map[string]*topicSum{}
	var order []string
	for i := range parts {
		p := &parts[i]
		ts := topics[p.Topic]
		if ts == nil {
			ts = &topicSum{}
			topics[p.Topic] = ts
			order = append(order, p.Topic)
		}
		ts.bytesIn += p.BytesIn
		ts.bytesOut += p.BytesOut
		ts.recIn += p.RecordsIn
		ts.recOut += p.RecordsOut
		ts.size += p.Size
		ts.segs += p.Segments
		ts.parts++
		if !perPartition {
			continue
		}
		idx := strconv.Itoa(int(p.Partition))
		counter(c.pBytesIn, float64(p.BytesIn), p.Topic, idx)
		counter(c.pBytesOut, float64(p.BytesOut), p.Topic, idx)
		counter(c.pRecIn, float64(p.RecordsIn), p.Topic, idx)
		counter(c.pRecOut, float64(p.RecordsOut), p.Topic, idx)
		gauge(c.pSize, float64(p.Size), p.Topic, idx)
		gauge(c.pSegs, float64(p.Segments), p.Topic, idx)
		gauge(c.pHW, float64(p.HighWatermark), p.Topic, idx)
		gauge(c.pLSO, float64(p.LogStartOffset), p.Topic, idx)
	}
	for _, name := range order {
		ts := topics[name]
		counter(c.tBytesIn, float64(ts.bytesIn), name)
		counter(c.tBytesOut, float64(ts.bytesOut), name)
		counter(c.tRecIn, float64(ts.recIn), name)
		counter(c.tRecOut, float64(ts.recOut), name)
		gauge(c.tSize, float64(ts.size), name)
		gauge(c.tSegs, float64(ts.segs), name)
		gauge(c.tParts, float64(ts.parts), name)
	}

	byState := map[string]int{}
	for _, g := range c.src.Groups(c.now()) {
		byState[g.State]++
		gauge(c.gMembers, float64(g.Members), g.Group)
		gauge(c.gState, 1, g.Group, g.Type, g.State)
		type agg struct {
			lag    int64
			maxSec float64
		}
		byTopic := map[string]*agg{}
		var topicOrder []string
		for _, l := range g.Lag {
			a := byTopic[l.Topic]
			if a == nil {
				a = &agg{}
				byTopic[l.Topic] = a
				topicOrder = append(topicOrder, l.Topic)
			}
			a.lag += l.Lag
			a.maxSec = max(a.maxSec, l.LagSeconds)
			if !perPartition {
				continue
			}
			idx := strconv.Itoa(int(l.Partition))
			gauge(c.gLag, float64(l.Lag), g.Group, l.Topic, idx)
			gauge(c.gLagSec, l.LagSeconds, g.Group, l.Topic, idx)
			gauge(c.gCommitted, float64(l.Committed), g.Group, l.Topic, idx)
		}
		for _, t := range topicOrder {
			gauge(c.gTopicLag, float64(byTopic[t].lag), g.Group, t)
			gauge(c.gTopicLagSec, byTopic[t].maxSec, g.Group, t)
		}
	}
	for state, n := range byState {
		gauge(c.groups, float64(n), state)
	}
	for state, n := range c.src.Transactions() {
		gauge(c.txns, float64(n), state)
	}
	gauge(c.fetchWaiting, float64(c.src.FetchWaiting()))
}
