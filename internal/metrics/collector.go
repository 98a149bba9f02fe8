package metrics

import (
	"bufio"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"
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
	// Logs reports the partitions' loaded logs and the open-files cap.
	Logs() LogStats
}

// LogStats counts loaded partition logs (internal/log/lazy.go) and the
// state of log.open.files.max (internal/log/filecap.go).
type LogStats struct {
	Loaded int // partitions whose log is loaded (not dormant)
	// Capped: log.open.files.max is set; the fields below are its.
	Capped      bool
	CappedFiles int   // segment files counted under the cap
	IdleClosed  int64 // partitions closed by the cap since start-up
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

// stateWriter writes Source's series at scrape time straight in
// Prometheus' text format. They are the bulk of a scrape (eight series a
// partition), too many to build as client_golang metric objects within the
// scrape budget (10,000 partitions in under 200 ms): written directly they
// cost one pass over the partitions per family and no allocation per
// series.
type stateWriter struct {
	src      Source
	now      func() time.Time
	maxParts int
}

type family struct {
	name, help, typ string
}

var (
	fPBytesIn  = family{"partition_bytes_in_total", "Record bytes appended by produce requests.", "counter"}
	fPBytesOut = family{"partition_bytes_out_total", "Record bytes served to fetch requests.", "counter"}
	fPRecIn    = family{"partition_records_in_total", "Records appended by produce requests.", "counter"}
	fPRecOut   = family{"partition_records_out_total", "Offsets served to fetch requests (records, less those removed by compaction).", "counter"}
	fPSize     = family{"partition_log_size_bytes", "Size of the partition's log on disk.", "gauge"}
	fPSegs     = family{"partition_log_segments", "Segments of the partition's log.", "gauge"}
	fPHW       = family{"partition_high_watermark", "High watermark (log end offset on a single node).", "gauge"}
	fPLSO      = family{"partition_log_start_offset", "Log start offset.", "gauge"}

	fTBytesIn  = family{"topic_bytes_in_total", "Record bytes appended by produce requests.", "counter"}
	fTBytesOut = family{"topic_bytes_out_total", "Record bytes served to fetch requests.", "counter"}
	fTRecIn    = family{"topic_records_in_total", "Records appended by produce requests.", "counter"}
	fTRecOut   = family{"topic_records_out_total", "Offsets served to fetch requests.", "counter"}
	fTSize     = family{"topic_log_size_bytes", "Size of the topic's logs on disk.", "gauge"}
	fTSegs     = family{"topic_log_segments", "Segments of the topic's logs.", "gauge"}
	fTParts    = family{"topic_partitions", "Partitions of the topic.", "gauge"}
	fDropped   = family{"metrics_partition_series_dropped", "1 when there are more partitions than metrics.partition.series.max and per-partition series are left out, else 0.", "gauge"}

	fGLag        = family{"consumer_group_lag", "Offsets between a group's committed offset and the high watermark.", "gauge"}
	fGLagSec     = family{"consumer_group_lag_seconds", "Now minus the timestamp of the next record the group will consume; 0 when caught up.", "gauge"}
	fGCommitted  = family{"consumer_group_committed_offset", "The group's committed offset.", "gauge"}
	fGTopicLag   = family{"consumer_group_topic_lag", "Sum of a group's lag over a topic's partitions.", "gauge"}
	fGTopicLagS  = family{"consumer_group_topic_max_lag_seconds", "Largest time lag of a group over a topic's partitions.", "gauge"}
	fGMembers    = family{"consumer_group_members", "Members of the group.", "gauge"}
	fGState      = family{"consumer_group_state", "1 for the group's current state.", "gauge"}
	fGroups      = family{"consumer_groups", "Consumer groups by state.", "gauge"}
	fTxns        = family{"transactions", "Transactional ids by transaction state.", "gauge"}
	fLogsLoaded  = family{"log_partitions_loaded", "Partitions whose log is loaded (files open); the others are dormant until used (log.lazy.load.enable, log.open.files.max).", "gauge"}
	fCapFiles    = family{"log_capped_open_files", "Segment files counted under log.open.files.max, as last counted.", "gauge"}
	fIdleClosed  = family{"log_idle_closed_total", "Partitions closed while idle to stay under log.open.files.max.", "counter"}
	fFetchWaitng = family{"fetch_long_polls_waiting", "Fetches parked in a long poll waiting for data or fetch.max.wait.ms (Kafka's fetch purgatory size).", "gauge"}
)

// textOut appends series to a buffered writer.
type textOut struct {
	w   *bufio.Writer
	buf []byte
}

func (o *textOut) header(f family) {
	o.buf = append(o.buf[:0], "# HELP "+Namespace+"_"...)
	o.buf = append(o.buf, f.name...)
	o.buf = append(o.buf, ' ')
	o.buf = append(o.buf, f.help...)
	o.buf = append(o.buf, "\n# TYPE "+Namespace+"_"...)
	o.buf = append(o.buf, f.name...)
	o.buf = append(o.buf, ' ')
	o.buf = append(o.buf, f.typ...)
	o.buf = append(o.buf, '\n')
	o.w.Write(o.buf)
}

// series writes one sample; labels are name, value pairs.
func (o *textOut) series(f family, v float64, labels ...string) {
	b := append(o.buf[:0], Namespace+"_"...)
	b = append(b, f.name...)
	if len(labels) > 0 {
		b = append(b, '{')
		for i := 0; i < len(labels); i += 2 {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, labels[i]...)
			b = append(b, '=', '"')
			b = appendLabelValue(b, labels[i+1])
			b = append(b, '"')
		}
		b = append(b, '}')
	}
	b = append(b, ' ')
	if v == math.Trunc(v) && math.Abs(v) < 1<<53 {
		b = strconv.AppendInt(b, int64(v), 10)
	} else {
		b = strconv.AppendFloat(b, v, 'g', -1, 64)
	}
	b = append(b, '\n')
	o.buf = b
	o.w.Write(b)
}

// appendLabelValue escapes a label value as the text format wants.
func appendLabelValue(b []byte, v string) []byte {
	if !strings.ContainsAny(v, "\\\"\n") {
		return append(b, v...)
	}
	for _, r := range []byte(v) {
		switch r {
		case '\\':
			b = append(b, '\\', '\\')
		case '"':
			b = append(b, '\\', '"')
		case '\n':
			b = append(b, '\\', 'n')
		default:
			b = append(b, r)
		}
	}
	return b
}

type topicSum struct {
	bytesIn, bytesOut, recIn, recOut uint64
	size                             int64
	segs, parts                      int
}

// write writes every state series allow lets through.
func (sw *stateWriter) write(w *bufio.Writer, allow func(name, value string) bool) {
	o := &textOut{w: w, buf: make([]byte, 0, 256)}
	cache := map[[2]string]bool{}
	ok := func(name, value string) bool {
		if allow == nil {
			return true
		}
		k := [2]string{name, value}
		v, hit := cache[k]
		if !hit {
			v = allow(name, value)
			cache[k] = v
		}
		return v
	}
	all := sw.src.Partitions()
	perPartition := sw.maxParts >= 0 && len(all) <= sw.maxParts
	parts := all[:0:0]
	for _, p := range all {
		if ok("topic", p.Topic) {
			parts = append(parts, p)
		}
	}
	o.header(fDropped)
	if perPartition {
		o.series(fDropped, 0)
	} else {
		o.series(fDropped, 1)
	}
	if perPartition && len(parts) > 0 {
		idx := make([]string, len(parts))
		for i := range parts {
			idx[i] = strconv.Itoa(int(parts[i].Partition))
		}
		for _, f := range []family{fPBytesIn, fPBytesOut, fPRecIn, fPRecOut, fPSize, fPSegs, fPHW, fPLSO} {
			o.header(f)
			for i := range parts {
				p := &parts[i]
				var v float64
				switch f {
				case fPBytesIn:
					v = float64(p.BytesIn)
				case fPBytesOut:
					v = float64(p.BytesOut)
				case fPRecIn:
					v = float64(p.RecordsIn)
				case fPRecOut:
					v = float64(p.RecordsOut)
				case fPSize:
					v = float64(p.Size)
				case fPSegs:
					v = float64(p.Segments)
				case fPHW:
					v = float64(p.HighWatermark)
				case fPLSO:
					v = float64(p.LogStartOffset)
				}
				o.series(f, v, "topic", p.Topic, "partition", idx[i])
			}
		}
	}
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
	}
	if len(order) > 0 {
		for _, f := range []family{fTBytesIn, fTBytesOut, fTRecIn, fTRecOut, fTSize, fTSegs, fTParts} {
			o.header(f)
			for _, name := range order {
				ts := topics[name]
				var v float64
				switch f {
				case fTBytesIn:
					v = float64(ts.bytesIn)
				case fTBytesOut:
					v = float64(ts.bytesOut)
				case fTRecIn:
					v = float64(ts.recIn)
				case fTRecOut:
					v = float64(ts.recOut)
				case fTSize:
					v = float64(ts.size)
				case fTSegs:
					v = float64(ts.segs)
				case fTParts:
					v = float64(ts.parts)
				}
				o.series(f, v, "topic", name)
			}
		}
	}

	var groups []GroupStats
	byState := map[string]int{}
	for _, g := range sw.src.Groups(sw.now()) {
		if !ok("group", g.Group) {
			continue
		}
		byState[g.State]++
		lag := g.Lag[:0:0]
		for _, l := range g.Lag {
			if ok("topic", l.Topic) {
				lag = append(lag, l)
			}
		}
		g.Lag = lag
		groups = append(groups, g)
	}
	if len(groups) > 0 {
		o.header(fGMembers)
		for _, g := range groups {
			o.series(fGMembers, float64(g.Members), "group", g.Group)
		}
		o.header(fGState)
		for _, g := range groups {
			o.series(fGState, 1, "group", g.Group, "type", g.Type, "state", g.State)
		}
		if perPartition {
			for _, f := range []family{fGLag, fGLagSec, fGCommitted} {
				o.header(f)
				for _, g := range groups {
					for _, l := range g.Lag {
						v := float64(l.Lag)
						switch f {
						case fGLagSec:
							v = l.LagSeconds
						case fGCommitted:
							v = float64(l.Committed)
						}
						o.series(f, v, "group", g.Group, "topic", l.Topic, "partition", strconv.Itoa(int(l.Partition)))
					}
				}
			}
		}
		type agg struct {
			lag    int64
			maxSec float64
		}
		for _, f := range []family{fGTopicLag, fGTopicLagS} {
			o.header(f)
			for _, g := range groups {
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
				}
				for _, t := range topicOrder {
					if f == fGTopicLag {
						o.series(f, float64(byTopic[t].lag), "group", g.Group, "topic", t)
					} else {
						o.series(f, byTopic[t].maxSec, "group", g.Group, "topic", t)
					}
				}
			}
		}
		o.header(fGroups)
		for _, state := range sortedKeys(byState) {
			o.series(fGroups, float64(byState[state]), "state", state)
		}
	}
	if txns := sw.src.Transactions(); len(txns) > 0 {
		o.header(fTxns)
		for _, state := range sortedKeys(txns) {
			o.series(fTxns, float64(txns[state]), "state", state)
		}
	}
	o.header(fFetchWaitng)
	o.series(fFetchWaitng, float64(sw.src.FetchWaiting()))
	ls := sw.src.Logs()
	o.header(fLogsLoaded)
	o.series(fLogsLoaded, float64(ls.Loaded))
	if ls.Capped {
		o.header(fCapFiles)
		o.series(fCapFiles, float64(ls.CappedFiles))
		o.header(fIdleClosed)
		o.series(fIdleClosed, float64(ls.IdleClosed))
	}
}

func sortedKeys(m map[string]int) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
