package console

// Browsing a topic's messages and producing one.
//
// A browse reads one partition, or every partition merged by timestamp,
// oldest first from an offset (default the log start) or newest first
// from an offset (default the end), keeping the records whose key and
// value contain the filters' substrings. It reads at most scanBudget
// records a page (split between the partitions, at least minScan each)
// and says where it stopped, so a filter that
// matches nothing in a large log answers quickly; the page links to the
// next window. Fetches are read_uncommitted without waiting; control
// records (transaction markers) are not shown.

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice-io/sluice/internal/log"
)

const (
	defaultLimit = 50
	maxLimit     = 500
	scanBudget   = 20000    // records read per page, split between the partitions
	minScan      = 100      // records read per partition per page at least
	fetchBytes   = 1 << 20  // per fetch request partition
	showBytes    = 16 << 10 // of a text or JSON value or key shown on the page
	showHex      = 2 << 10  // of a binary one, as a hex dump
)

// browseQuery is a messages page's parameters.
type browseQuery struct {
	Partition string // "" all, else a number
	Order     string // "newest" or "oldest"
	Offset    string // "" the end (newest) or start (oldest)
	Time      string // browse from this time (ListOffsets by timestamp) instead of an offset
	Key       string
	Value     string
	Header    string // "name=value": a header of that name whose value contains value; "name": any value
	After     string // keep records at or after this time
	Before    string // keep records at or before this time
	Limit     int

	header     headerFilter
	after      int64 // ms, math.MinInt64 when unset
	before     int64 // ms, math.MaxInt64 when unset
	fromTimeMs int64 // Time in ms, -1 when unset
}

type headerFilter struct {
	set         bool
	name, value string
}

// filtered reports whether the query filters records (not only positions).
func (q browseQuery) filtered() bool {
	return q.Key != "" || q.Value != "" || q.header.set || q.after != math.MinInt64 || q.before != math.MaxInt64
}

// match reports whether rec passes the query's filters.
func (q browseQuery) match(rec log.Record) bool {
	if rec.Timestamp < q.after || rec.Timestamp > q.before {
		return false
	}
	if q.Key != "" && !bytes.Contains(rec.Key, []byte(q.Key)) {
		return false
	}
	if q.Value != "" && !bytes.Contains(rec.Value, []byte(q.Value)) {
		return false
	}
	if q.header.set {
		for _, h := range rec.Headers {
			if h.Key == q.header.name && bytes.Contains(h.Value, []byte(q.header.value)) {
				return true
			}
		}
		return false
	}
	return true
}

// parseTime reads a time from a form: RFC 3339, the datetime-local input's
// 2006-01-02T15:04[:05] (UTC), a date, or milliseconds since the epoch.
func parseTime(s string) (int64, error) {
	s = strings.TrimSpace(s)
	if n, err := strconv.ParseInt(s, 10, 64); err == nil && n >= 0 {
		return n, nil
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02T15:04", "2006-01-02 15:04:05", "2006-01-02 15:04", "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UnixMilli(), nil
		}
	}
	return 0, badInput("time %q is not a time (use 2006-01-02T15:04:05Z, 2006-01-02T15:04 in UTC, or milliseconds since 1970)", s)
}

// message is a record as shown.
type message struct {
	Partition int32
	Offset    int64
	Timestamp int64
	Key       shown
	Value     shown
	Headers   []header
}

type header struct {
	Key   string
	Value shown
}

// shown is bytes rendered for a person: text, pretty-printed JSON or hex.
type shown struct {
	Kind      string // "null", "text", "json", "hex"
	Text      string
	Schema    string // decoded through the registry: the schema type and id
	DecodeErr string // in the registry's format, but not decodable
	Size      int
	Shown     int // bytes of it shown
	Truncated bool
}

func render(b []byte) shown {
	if b == nil {
		return shown{Kind: "null"}
	}
	s := shown{Size: len(b)}
	if len(b) > showBytes {
		b, s.Truncated = b[:showBytes], true
	}
	s.Shown = len(b)
	switch {
	case !s.Truncated && json.Valid(b) && (bytes.HasPrefix(bytes.TrimSpace(b), []byte("{")) || bytes.HasPrefix(bytes.TrimSpace(b), []byte("["))):
		var out bytes.Buffer
		if json.Indent(&out, b, "", "  ") == nil {
			s.Kind, s.Text = "json", out.String()
			return s
		}
	case utf8.Valid(b) && printable(b):
		s.Kind, s.Text = "text", string(b)
		return s
	}
	if len(b) > showHex {
		b, s.Truncated = b[:showHex], true
	}
	s.Shown = len(b)
	s.Kind, s.Text = "hex", hex.Dump(b)
	return s
}

// render is b as shown, decoded to JSON with its registry schema when it
// has one.
func (d *decoders) render(b []byte) shown {
	js, schema, ok, err := d.decode(b)
	if !ok {
		return render(b)
	}
	if err != nil {
		s := render(b)
		s.Schema, s.DecodeErr = schema, err.Error()
		return s
	}
	s := render(js)
	s.Schema, s.Size = schema, len(b)
	return s
}

// printable reports whether text b has no control characters but
// whitespace.
func printable(b []byte) bool {
	for _, r := range string(b) {
		if unicode.IsControl(r) && r != '\n' && r != '\r' && r != '\t' {
			return false
		}
	}
	return true
}

type messagesData struct {
	decoders   *decoders
	Topic      topicInfo
	Q          browseQuery
	Offsets    map[int32]offsets
	Messages   []message
	Scanned    int
	Stopped    []string // where a scan budget ran out, per partition
	Next       string   // query of the next page, when there may be more
	Produce    produceForm
	Partitions []int32
	Schema     *valueSchema // the latest schema of TOPIC-value, for the produce form
}

type produceForm struct {
	Partition, Key, Value string
	Raw                   bool // the value as is, not encoded with the topic's value schema
}

func (c *Console) messages(w http.ResponseWriter, r *http.Request) {
	c.messagesPage(w, r, http.StatusOK, "", produceForm{})
}

func (c *Console) messagesPage(w http.ResponseWriter, r *http.Request, code int, errMsg string, pf produceForm) {
	ctx := r.Context()
	t, err := c.topicMeta(ctx, r.PathValue("topic"))
	if err != nil {
		c.fail(w, r, status(err), err)
		return
	}
	offs, err := c.listOffsets(ctx, map[string][]int32{t.Name: t.Partitions})
	if err != nil {
		c.fail(w, r, status(err), err)
		return
	}
	d := messagesData{Topic: t, Offsets: offs[t.Name], Produce: pf, Partitions: t.Partitions, decoders: c.newDecoders(r)}
	d.Schema = c.valueSchema(r, t.Name)
	q, parts, from, qerr := parseBrowse(r.URL.Query(), t, offs[t.Name])
	if qerr == nil {
		qerr = c.timePositions(ctx, t, q, parts, offs[t.Name], from)
	}
	d.Q = q
	if qerr != nil {
		if code == http.StatusOK {
			code = http.StatusBadRequest
		}
		errMsg = qerr.Error()
	} else if err := c.browse(ctx, t, parts, from, &d); err != nil {
		if code == http.StatusOK {
			code = status(err)
		}
		errMsg = err.Error()
		if code == http.StatusNotFound {
			c.fail(w, r, code, err)
			return
		}
	}
	c.render(w, r, code, "messages", page{Title: "Messages of " + t.Name, Nav: "topics", Error: errMsg, Data: d})
}

// parseBrowse checks a browse's parameters against the topic: the
// partitions to read and, per partition, the first offset to read
// (oldest first) or one past the last (newest first).
func parseBrowse(v url.Values, t topicInfo, offs map[int32]offsets) (browseQuery, []int32, map[int32]int64, error) {
	q := browseQuery{Partition: v.Get("partition"), Order: v.Get("order"), Offset: strings.TrimSpace(v.Get("offset")),
		Time: strings.TrimSpace(v.Get("time")), Key: v.Get("key"), Value: v.Get("value"), Header: v.Get("header"),
		After: strings.TrimSpace(v.Get("after")), Before: strings.TrimSpace(v.Get("before")), Limit: defaultLimit,
		after: math.MinInt64, before: math.MaxInt64, fromTimeMs: -1}
	if q.Order == "" {
		q.Order = "newest"
	}
	if q.Order != "newest" && q.Order != "oldest" {
		return q, nil, nil, badInput("order %q is neither newest nor oldest", q.Order)
	}
	if len(q.Key) > maxSearch || len(q.Value) > maxSearch || len(q.Header) > maxSearch {
		return q, nil, nil, badInput("a filter is longer than %d characters", maxSearch)
	}
	if q.Header != "" {
		name, value, _ := strings.Cut(q.Header, "=")
		if name = strings.TrimSpace(name); name == "" {
			return q, nil, nil, badInput("header filter %q has no header name (write name=value or name)", q.Header)
		}
		q.header = headerFilter{set: true, name: name, value: value}
	}
	var err error
	if q.After != "" {
		if q.after, err = parseTime(q.After); err != nil {
			return q, nil, nil, err
		}
	}
	if q.Before != "" {
		if q.before, err = parseTime(q.Before); err != nil {
			return q, nil, nil, err
		}
	}
	if q.after > q.before {
		return q, nil, nil, badInput("the time range ends (%s) before it starts (%s)", q.Before, q.After)
	}
	if q.Time != "" {
		if q.Offset != "" {
			return q, nil, nil, badInput("browse from an offset or from a time, not both")
		}
		if q.fromTimeMs, err = parseTime(q.Time); err != nil {
			return q, nil, nil, err
		}
	}
	if s := v.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > maxLimit {
			return q, nil, nil, badInput("limit %q is not a number from 1 to %d", s, maxLimit)
		}
		q.Limit = n
	}
	parts := t.Partitions
	if q.Partition != "" {
		n, err := strconv.ParseInt(q.Partition, 10, 32)
		if _, ok := offs[int32(n)]; err != nil || !ok {
			return q, nil, nil, badInput("topic %s has no partition %q (it has %d)", t.Name, q.Partition, len(t.Partitions))
		}
		parts = []int32{int32(n)}
	}
	from := map[int32]int64{}
	for _, p := range parts {
		o := offs[p]
		if q.Order == "oldest" {
			from[p] = o.Start
		} else {
			from[p] = o.End
		}
	}
	if q.Offset != "" {
		if q.Partition == "" {
			return q, nil, nil, badInput("choose a partition to browse from an offset")
		}
		n, err := strconv.ParseInt(q.Offset, 10, 64)
		if err != nil || n < 0 {
			return q, nil, nil, badInput("offset %q is not a non-negative number", q.Offset)
		}
		p := parts[0]
		o := offs[p]
		switch {
		case n > o.End:
			return q, nil, nil, badInput("offset %d is past the end of partition %d (its next offset is %d)", n, p, o.End)
		case n < o.Start:
			return q, nil, nil, badInput("offset %d is before the start of partition %d (its first offset is %d)", n, p, o.Start)
		}
		if q.Order == "oldest" {
			from[p] = n
		} else {
			from[p] = min(n+1, o.End)
		}
	}
	return q, parts, from, nil
}

// timePositions moves the browse's starting points to a time: the query's
// "from time", or else the start of its time range (oldest first) or its
// end (newest first), found by ListOffsets with the timestamp. Newest first
// from a time shows the records up to that time.
func (c *Console) timePositions(ctx context.Context, t topicInfo, q browseQuery, parts []int32, offs map[int32]offsets, from map[int32]int64) error {
	if q.Offset != "" {
		return nil
	}
	ms := q.fromTimeMs
	switch {
	case ms >= 0:
	case q.Order == "oldest" && q.after != math.MinInt64:
		ms = max(q.after, 0)
	case q.Order == "newest" && q.before != math.MaxInt64:
		ms = q.before
	default:
		return nil
	}
	if q.Order == "newest" && ms < math.MaxInt64 {
		ms++ // one past the records at ms
	}
	at, err := c.offsetsForTime(ctx, t.Name, parts, ms)
	if err != nil {
		return err
	}
	for _, p := range parts {
		o, ok := at[p]
		if !ok || o < 0 {
			o = offs[p].End // no record at or after the time
		}
		from[p] = min(max(o, offs[p].Start), offs[p].End)
	}
	return nil
}

// browse reads the messages of d's query into d.
func (c *Console) browse(ctx context.Context, t topicInfo, parts []int32, from map[int32]int64, d *messagesData) error {
	q := d.Q
	match := q.match
	toMessage := func(p int32, rec log.Record) message { return toMessage(p, rec, d.decoders) }
	budget := max(minScan, scanBudget/len(parts))
	var all []message
	next := map[int32]int64{}
	more := false
	for _, p := range parts {
		o := d.Offsets[p]
		var got []message
		scanned := 0
		if q.Order == "oldest" {
			pos := from[p]
			_, last, err := c.fetchRange(ctx, t, p, pos, o.End, func(rec log.Record) bool {
				scanned++
				if match(rec) {
					got = append(got, toMessage(p, rec))
				}
				return len(got) < q.Limit && scanned < budget
			})
			if err != nil {
				return err
			}
			pos = max(pos, last+1)
			if pos < o.End {
				more, next[p] = true, pos
			}
		} else {
			hi := from[p]
			step := int64(q.Limit)
			if q.filtered() {
				step = int64(min(1000, budget))
			}
			for hi > o.Start && len(got) < q.Limit && scanned < budget {
				lo := max(o.Start, hi-step)
				var window []message // the newest matches of [lo, hi) still needed
				need := q.Limit - len(got)
				n, _, err := c.fetchRange(ctx, t, p, lo, hi, func(rec log.Record) bool {
					if rec.Offset < hi && match(rec) {
						if len(window) == need {
							window = window[1:]
						}
						window = append(window, toMessage(p, rec))
					}
					return true
				})
				if err != nil {
					return err
				}
				scanned += n
				for i := len(window) - 1; i >= 0 && len(got) < q.Limit; i-- {
					got = append(got, window[i])
				}
				if len(got) >= q.Limit {
					hi = got[len(got)-1].Offset
				} else {
					hi = lo
				}
			}
			if hi > o.Start {
				more, next[p] = true, hi-1
			}
		}
		if scanned >= budget && len(got) < q.Limit {
			d.Stopped = append(d.Stopped, fmt.Sprintf("partition %d: read %d records without finding %d matches; stopped before offset %d", p, scanned, q.Limit, next[p]))
		}
		d.Scanned += scanned
		all = append(all, got...)
	}
	sort.SliceStable(all, func(i, j int) bool {
		a, b := all[i], all[j]
		if a.Timestamp != b.Timestamp {
			return (a.Timestamp < b.Timestamp) == (q.Order == "oldest")
		}
		if a.Partition != b.Partition {
			return a.Partition < b.Partition
		}
		return (a.Offset < b.Offset) == (q.Order == "oldest")
	})
	if len(all) > q.Limit {
		all = all[:q.Limit]
	}
	d.Messages = all
	if more && len(parts) == 1 {
		v := url.Values{"partition": {strconv.Itoa(int(parts[0]))}, "order": {q.Order}, "offset": {strconv.FormatInt(next[parts[0]], 10)}}
		if q.Key != "" {
			v.Set("key", q.Key)
		}
		if q.Value != "" {
			v.Set("value", q.Value)
		}
		for k, s := range map[string]string{"header": q.Header, "after": q.After, "before": q.Before} {
			if s != "" {
				v.Set(k, s)
			}
		}
		if q.Limit != defaultLimit {
			v.Set("limit", strconv.Itoa(q.Limit))
		}
		d.Next = v.Encode()
	}
	return nil
}

// toMessage is rec as shown, its key and value decoded through the
// registry when they are in its wire format (decs nil: not decoded).
func toMessage(p int32, rec log.Record, decs *decoders) message {
	m := message{Partition: p, Offset: rec.Offset, Timestamp: rec.Timestamp, Key: decs.render(rec.Key), Value: decs.render(rec.Value)}
	for _, h := range rec.Headers {
		m.Headers = append(m.Headers, header{Key: h.Key, Value: render(h.Value)})
	}
	return m
}

// fetchRange reads partition p from pos to end and calls fn for each
// record at or after pos and below end until fn returns false. It returns
// how many records it read and the offset of the last one it passed
// (pos-1 when none: no progress).
func (c *Console) fetchRange(ctx context.Context, t topicInfo, p int32, pos, end int64, fn func(log.Record) bool) (int, int64, error) {
	read, last := 0, pos-1
	for pos < end {
		req := kmsg.NewPtrFetchRequest()
		req.ReplicaID, req.MaxWaitMillis, req.MinBytes, req.MaxBytes = -1, 0, 1, 4*fetchBytes
		req.SessionID, req.SessionEpoch = 0, -1
		rt := kmsg.NewFetchRequestTopic()
		rt.Topic, rt.TopicID = t.Name, t.ID
		rp := kmsg.NewFetchRequestTopicPartition()
		rp.Partition, rp.FetchOffset, rp.CurrentLeaderEpoch, rp.LogStartOffset, rp.PartitionMaxBytes = p, pos, -1, -1, fetchBytes
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		resp, err := call[*kmsg.FetchResponse](ctx, c.be, req)
		if err != nil {
			return read, last, err
		}
		if err := codeErr(resp.ErrorCode, nil); err != nil {
			return read, last, fmt.Errorf("fetching %s/%d: %w", t.Name, p, err)
		}
		if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
			return read, last, fmt.Errorf("fetching %s/%d: unexpected response shape", t.Name, p)
		}
		rp2 := resp.Topics[0].Partitions[0]
		if err := codeErr(rp2.ErrorCode, nil); err != nil {
			switch rp2.ErrorCode {
			case kerr.UnknownTopicOrPartition.Code, kerr.UnknownTopicID.Code:
				return read, last, fmt.Errorf("%w: topic %q partition %d no longer exists (deleted while browsed?)", errNotFound, t.Name, p)
			case kerr.OffsetOutOfRange.Code:
				return read, last, badInput("offset %d of partition %d is out of range (the log changed; its start is now %d)", pos, p, rp2.LogStartOffset)
			}
			return read, last, fmt.Errorf("fetching %s/%d at %d: %w", t.Name, p, pos, err)
		}
		progressed := false
		data := rp2.RecordBatches
		for len(data) >= log.BatchHeaderLen {
			h, err := log.ParseBatchHeader(data)
			if err != nil || h.Size() > len(data) {
				break // a partial batch at the end of the response
			}
			batch := data[:h.Size()]
			data = data[h.Size():]
			if h.LastOffset() >= pos {
				progressed = true
				last = max(last, min(h.LastOffset(), end-1))
			}
			if h.Control() {
				continue
			}
			recs, err := log.DecodeRecords(batch)
			if err != nil {
				return read, last, fmt.Errorf("decoding a batch of %s/%d at %d: %w", t.Name, p, h.BaseOffset, err)
			}
			for _, rec := range recs {
				if rec.Offset < pos || rec.Offset >= end {
					continue
				}
				read++
				if !fn(rec) {
					return read, rec.Offset, nil
				}
			}
		}
		if !progressed {
			return read, last, nil
		}
		pos = last + 1
	}
	return read, last, nil
}

// produce sends one record from the form (no partition: the key's
// murmur2 partition, as Kafka's default partitioner, or a random one for
// no key).
func (c *Console) produce(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	if err := r.ParseForm(); err != nil {
		c.messagesPage(w, r, http.StatusBadRequest, "malformed form (at most 2 MiB): "+err.Error(), produceForm{})
		return
	}
	pf := produceForm{Partition: strings.TrimSpace(r.PostFormValue("partition")), Key: r.PostFormValue("key"), Value: r.PostFormValue("value"),
		Raw: r.PostFormValue("encoding") != "schema"}
	t, err := c.topicMeta(ctx, r.PathValue("topic"))
	if err != nil {
		c.fail(w, r, status(err), err)
		return
	}
	value := []byte(pf.Value)
	if !pf.Raw {
		if value, err = c.encodeValue(r, t.Name, value); err != nil {
			c.messagesPage(w, r, status(err), "Not produced: "+err.Error(), pf)
			return
		}
	}
	p, off, err := c.produceOne(ctx, t, pf, value)
	if err != nil {
		c.messagesPage(w, r, status(err), "Not produced: "+err.Error(), pf)
		return
	}
	http.Redirect(w, r, fmt.Sprintf("/topics/%s/messages?partition=%d&order=newest&notice=%s", pathEscape(t.Name), p,
		url.QueryEscape(fmt.Sprintf("Produced to partition %d at offset %d.", p, off))), http.StatusSeeOther)
}

func (c *Console) produceOne(ctx context.Context, t topicInfo, pf produceForm, value []byte) (int32, int64, error) {
	if len(t.Partitions) == 0 {
		return 0, 0, badInput("topic %s has no partitions", t.Name)
	}
	var key []byte
	if pf.Key != "" {
		key = []byte(pf.Key)
	}
	var p int32
	switch {
	case pf.Partition != "":
		n, err := strconv.ParseInt(pf.Partition, 10, 32)
		if err != nil || n < 0 || int(n) >= len(t.Partitions) {
			return 0, 0, badInput("topic %s has no partition %q (it has %d)", t.Name, pf.Partition, len(t.Partitions))
		}
		p = int32(n)
	case key != nil:
		p = int32((murmur2(key) & 0x7fffffff) % uint32(len(t.Partitions)))
	default:
		p = int32(rand.IntN(len(t.Partitions)))
	}
	req := kmsg.NewPtrProduceRequest()
	req.Acks, req.TimeoutMillis = -1, 30000
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic, rt.TopicID = t.Name, t.ID
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Partition = p
	rp.Records = log.EncodeBatch([]log.KV{{Key: key, Value: value}}, c.now().UnixMilli(), -1, 0, false)
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp, err := call[*kmsg.ProduceResponse](ctx, c.be, req)
	if err != nil {
		return 0, 0, err
	}
	if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
		return 0, 0, fmt.Errorf("producing to %s/%d: unexpected response shape", t.Name, p)
	}
	sp := resp.Topics[0].Partitions[0]
	if err := codeErr(sp.ErrorCode, sp.ErrorMessage); err != nil {
		return 0, 0, fmt.Errorf("producing to %s/%d: %w", t.Name, p, err)
	}
	return p, sp.BaseOffset, nil
}

// murmur2 is Kafka's murmur2 hash (Utils.murmur2), which its default
// partitioner uses for keyed records.
func murmur2(data []byte) uint32 {
	const (
		seed = 0x9747b28c
		m    = 0x5bd1e995
		r    = 24
	)
	n := len(data)
	h := uint32(seed) ^ uint32(n)
	for i := 0; i+4 <= n; i += 4 {
		k := uint32(data[i]) | uint32(data[i+1])<<8 | uint32(data[i+2])<<16 | uint32(data[i+3])<<24
		k *= m
		k ^= k >> r
		k *= m
		h *= m
		h ^= k
	}
	rest := n % 4
	tail := data[n-rest:]
	switch rest {
	case 3:
		h ^= uint32(tail[2]) << 16
		fallthrough
	case 2:
		h ^= uint32(tail[1]) << 8
		fallthrough
	case 1:
		h ^= uint32(tail[0])
		h *= m
	}
	h ^= h >> 13
	h *= m
	h ^= h >> 15
	return h
}
