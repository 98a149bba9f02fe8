package broker

// Fetch: v0-18
//
// Behaviour:
// * Long poll: when fewer than MinBytes are ready the request waits up to
//   MaxWaitMillis and is woken by appends to any of its partitions (no
//   polling timer), or answers at once on an error.
// * MaxBytes (response) and partition MaxBytes, returning whole batches;
//   the first batch of the response is returned even when larger than
//   both (KIP-74).
// * Fetch sessions (KIP-227, v7+): see fetchsession.go.
// * Topic IDs (v13+): UNKNOWN_TOPIC_ID for unknown ids.
// * Isolation level: read_committed returns only batches below the last
//   stable offset (the first offset of the earliest open transaction) and
//   the aborted transactions overlapping the returned range (producer id,
//   first offset), so clients drop aborted records; read_uncommitted
//   reads to the high watermark. Both report the last stable offset.
// * OFFSET_OUT_OF_RANGE carries the log start offset and high watermark.
// * CORRUPT_MESSAGE: the batch at the fetch offset is damaged on disk
//   (internal/log/verify.go); a fetch reaching a damaged batch stops
//   before it. Damaged data is never served.
// * CurrentLeaderEpoch (v9+) other than 0 is FENCED_LEADER_EPOCH (older)
//   or UNKNOWN_LEADER_EPOCH (newer).
// * v0-v3 (message formats 0 and 1, for old clients; Kafka 4 dropped them,
//   KIP-896): the stored v2 batches are down-converted, magic 0 for v0-v1
//   and 1 for v2-v3, keeping each batch's compression, dropping control
//   batches and headers (log.DownConvert); zstd batches are
//   UNSUPPORTED_COMPRESSION_TYPE. These versions read uncommitted data and
//   have no log start offset or last stable offset.

import (
	"errors"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice-io/sluice/internal/auth"
	"github.com/sluice-io/sluice/internal/log"
)

func init() { register(1, 0, 18, handleFetch) }

// fetchPart is one partition of a fetch in response order.
type fetchPart struct {
	key      sessKey
	topic    string
	topicID  [16]byte
	part     int32
	offset   int64
	maxBytes int32
	epoch    int32
	sess     *sessPart // nil when sessionless
}

func handleFetch(b *Broker, r *request, req *kmsg.FetchRequest) kmsg.Response {
	resp := req.ResponseKind().(*kmsg.FetchResponse)
	useIDs := r.version >= 13
	sess, incremental, code := b.fetchSession(r, req)
	if code != 0 {
		resp.ErrorCode = code
		return resp
	}
	if sess != nil {
		defer sess.mu.Unlock()
		resp.SessionID = sess.id
	}
	parts := fetchParts(req, sess, incremental, useIDs)
	live, errs := b.resolveFetchParts(r, parts, useIDs)
	results := make([]partResult, len(parts))
	defer releaseResults(results) // those not handed to the response
	if !b.longPoll(r, req, parts, live, errs, results) {
		return nil // shutting down
	}
	return b.fetchResponse(r, req, resp, parts, live, results, incremental)
}

// fetchSession resolves the request's fetch session (KIP-227, v7+): none
// (sess nil), a new one, or the incremental one it names, returned locked
// for the request. A non-zero code is the response's error.
func (b *Broker) fetchSession(r *request, req *kmsg.FetchRequest) (sess *fetchSession, incremental bool, code int16) {
	switch {
	case r.version < 7:
	case req.SessionEpoch == -1:
		if req.SessionID != 0 {
			b.sessions.remove(req.SessionID)
		}
	case req.SessionEpoch == 0:
		if req.SessionID != 0 {
			b.sessions.remove(req.SessionID)
		}
		sess = b.sessions.create()
	default:
		sess = b.sessions.get(req.SessionID)
		if sess == nil {
			return nil, false, kerr.FetchSessionIDNotFound.Code
		}
		incremental = true
	}
	if sess != nil {
		sess.mu.Lock()
		if incremental && req.SessionEpoch != sess.epoch {
			sess.mu.Unlock()
			return nil, false, kerr.InvalidFetchSessionEpoch.Code
		}
	}
	return sess, incremental, 0
}

// fetchParts lists the partitions the fetch covers, in response order:
// the request's, or, with a session, the session's after applying the
// request's forgotten and changed partitions to it.
func fetchParts(req *kmsg.FetchRequest, sess *fetchSession, incremental, useIDs bool) []fetchPart {
	keyOf := func(name string, id [16]byte, p int32) sessKey {
		if useIDs {
			return sessKey{topicID: id, partition: p}
		}
		return sessKey{topic: name, partition: p}
	}
	var parts []fetchPart
	if sess == nil {
		for _, rt := range req.Topics {
			for _, rp := range rt.Partitions {
				parts = append(parts, fetchPart{key: keyOf(rt.Topic, rt.TopicID, rp.Partition), topic: rt.Topic, topicID: rt.TopicID,
					part: rp.Partition, offset: rp.FetchOffset, maxBytes: rp.PartitionMaxBytes, epoch: rp.CurrentLeaderEpoch})
			}
		}
	} else {
		for _, ft := range req.ForgottenTopics {
			for _, p := range ft.Partitions {
				sess.forget(keyOf(ft.Topic, ft.TopicID, p))
			}
		}
		for _, rt := range req.Topics {
			for _, rp := range rt.Partitions {
				sess.upsert(keyOf(rt.Topic, rt.TopicID, rp.Partition), rp.FetchOffset, rp.PartitionMaxBytes, rp.CurrentLeaderEpoch)
			}
		}
		if incremental {
			sess.epoch++
			if sess.epoch <= 0 {
				sess.epoch = 1
			}
		}
		for _, k := range sess.order {
			sp := sess.parts[k]
			parts = append(parts, fetchPart{key: k, topic: k.topic, topicID: k.topicID, part: k.partition,
				offset: sp.fetchOffset, maxBytes: sp.maxBytes, epoch: sp.currentLeaderEpoch, sess: sp})
		}
	}
	return parts
}

// resolveFetchParts finds each part's partition, once for every read
// pass; a part it cannot serve gets its error instead.
func (b *Broker) resolveFetchParts(r *request, parts []fetchPart, useIDs bool) ([]*partition, []error) {
	// Resolve partitions once; the read loop may run several times.
	live := make([]*partition, len(parts))
	errs := make([]error, len(parts))
	for i, fp := range parts {
		var t *topic
		if useIDs {
			if t = b.topicByID(fp.topicID); t == nil {
				errs[i] = kerr.UnknownTopicID
				continue
			}
		} else if t = b.topic(fp.topic); t == nil {
			errs[i] = kerr.UnknownTopicOrPartition
			if !r.allowed(auth.OpRead, auth.Topic(fp.topic)) {
				errs[i] = kerr.TopicAuthorizationFailed
			}
			continue
		}
		parts[i].topic = t.meta.Name
		switch {
		case !r.allowed(auth.OpRead, auth.Topic(t.meta.Name)):
			errs[i] = kerr.TopicAuthorizationFailed
		case fp.part < 0 || int(fp.part) >= len(t.partitions):
			errs[i] = kerr.UnknownTopicOrPartition
		case fp.epoch > 0:
			errs[i] = kerr.UnknownLeaderEpoch
		default:
			live[i] = t.partitions[fp.part]
		}
	}
	return live, errs
}

// longPoll reads the partitions into results until MinBytes are ready, a
// partition fails or MaxWaitMillis passes, woken by appends to any of the
// partitions. It reports false when the broker is shutting down.
func (b *Broker) longPoll(r *request, req *kmsg.FetchRequest, parts []fetchPart, live []*partition, errs []error, results []partResult) bool {
	maxWait := time.Duration(req.MaxWaitMillis) * time.Millisecond
	var deadline time.Time
	var wake chan struct{}
	for {
		total, anyErr := b.readParts(parts, live, errs, req.MaxBytes, req.IsolationLevel == 1, results)
		if total >= int(req.MinBytes) || anyErr || maxWait <= 0 {
			break
		}
		if wake == nil {
			deadline = time.Now().Add(maxWait)
			wake = make(chan struct{}, 1)
			for _, p := range live {
				if p != nil {
					p.addWaiter(wake)
				}
			}
			defer func() {
				for _, p := range live {
					if p != nil {
						p.removeWaiter(wake)
					}
				}
			}()
			continue // re-read: an append may have landed before registration
		}
		left := time.Until(deadline)
		if left <= 0 {
			break
		}
		t := time.NewTimer(left)
		waitStart := time.Now()
		b.fetchWaiting.Add(1)
		select {
		case <-wake:
			t.Stop()
		case <-t.C:
		case <-b.done:
			t.Stop()
			b.fetchWaiting.Add(-1)
			return false
		}
		b.fetchWaiting.Add(-1)
		r.waited += time.Since(waitStart) // not handler time (quotas.go)
	}
	return true
}

// fetchResponse builds the response from the reads: with an incremental
// session only the partitions that changed, the records spliced in from
// the segment files when written (or down-converted for v0-v3).
func (b *Broker) fetchResponse(r *request, req *kmsg.FetchRequest, resp *kmsg.FetchResponse, parts []fetchPart, live []*partition, results []partResult, incremental bool) kmsg.Response {
	readCommitted := req.IsolationLevel == 1
	out := &splicedResponse{Response: resp, flexible: resp.IsFlexible()}
	legacyLeft := int(req.MaxBytes) // v0-v3: bytes left after conversion
	if legacyLeft <= 0 {
		legacyLeft = 1<<31 - 1
	}
	var rt *kmsg.FetchResponseTopic
	for i, fp := range parts {
		res := &results[i]
		if res.deferred && incremental {
			continue // nothing known: nothing changed, as far as the client can tell
		}
		if fp.sess != nil && incremental && !fp.sess.changed(res) {
			continue
		}
		if fp.sess != nil && !res.deferred { // a deferred one is sent again, as changed
			fp.sess.remember(res)
		}
		if rt == nil || rt.Topic != fp.topic || rt.TopicID != fp.topicID {
			resp.Topics = append(resp.Topics, kmsg.NewFetchResponseTopic())
			rt = &resp.Topics[len(resp.Topics)-1]
			rt.Topic, rt.TopicID = fp.topic, fp.topicID
		}
		p := kmsg.NewFetchResponseTopicPartition()
		p.Partition = fp.part
		p.ErrorCode = res.code
		p.HighWatermark = res.hw
		p.LastStableOffset = res.lso
		p.LogStartOffset = res.logStart
		p.PreferredReadReplica = -1
		if readCommitted {
			p.AbortedTransactions = make([]kmsg.FetchResponseTopicPartitionAbortedTransaction, 0, len(res.aborted))
			for _, a := range res.aborted {
				at := kmsg.NewFetchResponseTopicPartitionAbortedTransaction()
				at.ProducerID, at.FirstOffset = a.ProducerID, a.FirstOffset
				p.AbortedTransactions = append(p.AbortedTransactions, at)
			}
		}
		// Empty, not null: librdkafka rejects a null record set. The
		// records themselves are spliced in from the segment file when
		// the response is written.
		p.RecordBatches = []byte{}
		if n := res.rr.Size(); n > 0 && live[i] != nil { // metrics.go
			live[i].bytesOut.Add(uint64(n))
			if res.rr.NextOffset > fp.offset {
				live[i].recordsOut.Add(uint64(res.rr.NextOffset - fp.offset))
			}
		}
		switch {
		case res.rr.Size() == 0:
		case r.version < 4:
			p.RecordBatches, p.ErrorCode = b.downConvert(fp, res.rr, r.version, &legacyLeft)
		default:
			p.RecordBatches = out.add(res.rr) // released when written (conn.write)
			res.rr = log.ReadResult{}
		}
		rt.Partitions = append(rt.Partitions, p)
	}
	return out
}

// downConvert returns what rr read as a legacy message set for Fetch
// v0-v3 (magic 0 for v0-v1, 1 for v2-v3; see log.DownConvert), within the
// partition's and the response's bytes left, and the partition's error
// code.
func (b *Broker) downConvert(fp fetchPart, rr log.ReadResult, version int16, left *int) ([]byte, int16) {
	if *left <= 0 {
		return []byte{}, 0 // earlier partitions filled the response
	}
	limit := min(int(fp.maxBytes), *left)
	raw, err := rr.AppendTo(nil)
	if err != nil {
		b.logger.Warn("fetch read failed", "topic", fp.topic, "partition", fp.part, "err", err)
		return []byte{}, kerr.KafkaStorageError.Code
	}
	magic := int8(1)
	if version < 2 {
		magic = 0
	}
	data, err := log.DownConvert(nil, raw, fp.offset, magic, max(limit, 0))
	switch {
	case errors.Is(err, log.ErrUnsupportedCompression):
		return []byte{}, kerr.UnsupportedCompressionType.Code
	case err != nil:
		b.logger.Warn("fetch down-conversion failed", "topic", fp.topic, "partition", fp.part, "err", err)
		return []byte{}, kerr.KafkaStorageError.Code
	}
	*left -= len(data)
	return data, 0
}

// partResult is what one read pass found for a partition.
type partResult struct {
	code              int16
	deferred          bool // not read: its log was not loaded in time (readParts)
	hw, lso, logStart int64
	rr                log.ReadResult
	aborted           []log.AbortedTxn // read_committed: overlapping the range read
}

func (sp *sessPart) changed(res *partResult) bool {
	return !sp.sent || res.rr.Size() > 0 || res.code != 0 || sp.lastErr != res.code ||
		sp.hw != res.hw || sp.lso != res.lso || sp.logStart != res.logStart
}

func (sp *sessPart) remember(res *partResult) {
	sp.sent, sp.lastErr, sp.hw, sp.lso, sp.logStart = true, res.code, res.hw, res.lso, res.logStart
}

// fetchLoadBudget bounds the time a fetch spends loading partitions that
// were not loaded (lazy loading, log.open.files.max) before it answers
// with what it has read: a consumer of 100,000 partitions after a restart
// would otherwise wait for every one to load (minutes under a cap, past
// its request timeout, so it asked again and never got an answer).
const fetchLoadBudget = 500 * time.Millisecond

// readParts reads every partition once, honouring the response and
// partition byte limits, and reports the bytes read and whether any
// partition failed or was deferred (either ends a long poll). Once the
// pass has run for b.fetchLoadBudget, a partition whose read would load
// its log is deferred instead: answered with no records, no error and no
// offsets (-1), which clients read as "nothing yet", and read by a later
// fetch. The first read that loads is always made, so every fetch makes
// progress.
func (b *Broker) readParts(parts []fetchPart, live []*partition, errs []error, maxBytes int32, readCommitted bool, out []partResult) (int, bool) {
	total := 0
	anyErr := false
	if maxBytes <= 0 {
		maxBytes = 1<<31 - 1
	}
	releaseResults(out) // of the previous pass
	start, loads := time.Now(), 0
	for i := range parts {
		res := partResult{hw: -1, lso: -1, logStart: -1}
		p := live[i]
		if p == nil {
			res.code = code(errs[i])
			anyErr = true
			out[i] = res
			continue
		}
		if p.log.ReadLoads(parts[i].offset) {
			if loads > 0 && time.Since(start) > b.fetchLoadBudget {
				res.deferred = true
				anyErr = true // answer now: the client comes back for the rest
				out[i] = res
				continue
			}
			loads++
		}
		res.hw, res.logStart = p.log.HighWatermark(), p.log.LogStartOffset()
		limit := min(parts[i].maxBytes, maxBytes-int32(total))
		if limit <= 0 && total > 0 {
			res.lso = p.log.LastStableOffset()
			out[i] = res
			continue
		}
		read := p.log.Read
		if readCommitted {
			read = p.log.ReadCommitted
		}
		rr, err := read(parts[i].offset, max(limit, 0), total == 0)
		if err != nil {
			res.code = code(readError(err))
			switch {
			case errors.Is(err, log.ErrOffsetOutOfRange), errors.Is(err, log.ErrClosed), log.IsDiskCorruption(err):
				// A client error, the topic was deleted mid-fetch, or
				// damage the log logged once already.
			default:
				b.logger.Warn("fetch read failed", "topic", p.topic, "partition", p.index, "err", err)
			}
			anyErr = true
			out[i] = res
			continue
		}
		res.hw, res.lso, res.logStart, res.rr = rr.HighWatermark, rr.LastStableOffset, rr.LogStartOffset, rr
		if readCommitted && rr.Size() > 0 {
			res.aborted = p.log.AbortedTxns(parts[i].offset, rr.LastStableOffset-1)
		}
		total += rr.Size()
		out[i] = res
	}
	return total, anyErr
}

// releaseResults lets go of the segment files the reads of results hold.
func releaseResults(results []partResult) {
	for i := range results {
		results[i].rr.Release()
		results[i].rr = log.ReadResult{}
	}
}

func readError(err error) error {
	switch {
	case errors.Is(err, log.ErrOffsetOutOfRange):
		return kerr.OffsetOutOfRange
	case errors.Is(err, log.ErrClosed):
		return kerr.UnknownTopicOrPartition
	case errors.Is(err, log.ErrDecompressBusy):
		return kerr.RequestTimedOut // retriable (log/budget.go)
	case log.IsDiskCorruption(err):
		return kerr.CorruptMessage // damaged on disk: never served
	default:
		return kerr.KafkaStorageError
	}
}
