package log

import (
	"encoding/binary"
	"hash/crc32"
	"maps"
	"slices"
	"sort"
)

// Transactions in the log, following Kafka's ProducerStateManager and
// transaction index:
//
//   - A transactional batch (attributes bit 4) of a producer with no open
//     transaction in this partition opens one at its base offset.
//   - A control batch (bits 4 and 5), written only by the broker with
//     AppendMarker, closes it: type 1 commit, 0 abort. An abort adds
//     (producer id, first offset, marker offset) to the aborted list,
//     Kafka's .txnindex, which read_committed fetches return.
//   - The last stable offset is the first offset of the earliest open
//     transaction, or the high watermark when none is open.
//
// The open transactions and the aborted list are part of the producer
// snapshot (version 2, snapshot.go) and are rebuilt on recovery by
// replaying the batches after it; aborted entries whose marker the cleaner
// has since removed are then dropped (dropRemovedAborted, recover.go).

// AbortedTxn is one aborted transaction in a partition: its producer and
// the offsets of its first batch and of its abort marker.
type AbortedTxn struct {
	ProducerID  int64
	FirstOffset int64
	LastOffset  int64
}

// Control record types (the key's type field).
const (
	MarkerAbort  int16 = 0
	MarkerCommit int16 = 1
)

// txnState is guarded by Log.mu.
type txnState struct {
	open    map[int64]int64 // producer id -> first offset of its open transaction
	aborted []AbortedTxn    // by LastOffset
}

// apply updates the transaction state for an appended batch; marker is
// MarkerAbort or MarkerCommit for control batches, -1 otherwise.
func (t *txnState) apply(h *BatchHeader, marker int16) {
	if h.ProducerID < 0 || !h.Transactional() {
		return
	}
	if !h.Control() {
		if t.open == nil {
			t.open = map[int64]int64{}
		}
		if _, ok := t.open[h.ProducerID]; !ok {
			t.open[h.ProducerID] = h.BaseOffset
		}
		return
	}
	first, ok := t.open[h.ProducerID]
	if !ok {
		return
	}
	delete(t.open, h.ProducerID)
	if marker == MarkerAbort {
		t.aborted = append(t.aborted, AbortedTxn{ProducerID: h.ProducerID, FirstOffset: first, LastOffset: h.BaseOffset})
	}
}

// stable returns the last stable offset given the log end.
func (t *txnState) stable(next int64) int64 {
	lso := next
	for _, first := range t.open {
		lso = min(lso, first)
	}
	return lso
}

// LastStableOffset returns the first offset of the earliest open
// transaction, or the high watermark.
func (l *Log) LastStableOffset() int64 {
	if e, ok := l.asleepEnds(); ok {
		return e.next
	}
	if l.enter() != nil {
		return 0
	}
	defer l.leave()
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.txns.stable(l.next)
}

// AbortedTxns returns the aborted transactions that overlap [from, to]:
// those whose marker is at or after from and whose first offset is at or
// before to, by marker offset.
func (l *Log) AbortedTxns(from, to int64) []AbortedTxn {
	if l.enter() != nil {
		return nil
	}
	defer l.leave()
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.txns.abortedIn(from, to)
}

// abortedIn is AbortedTxns on t.
func (t *txnState) abortedIn(from, to int64) []AbortedTxn {
	a := t.aborted
	i := sort.Search(len(a), func(i int) bool { return a[i].LastOffset >= from })
	var out []AbortedTxn
	for _, x := range a[i:] {
		if x.FirstOffset <= to {
			out = append(out, x)
		}
	}
	return out
}

// clone returns a deep copy of t.
func (t *txnState) clone() txnState {
	var c txnState
	if t.open != nil {
		c.open = maps.Clone(t.open)
	}
	c.aborted = slices.Clone(t.aborted)
	return c
}

// OpenTxns returns the producers with an open transaction in this log and
// the first offset of each (DescribeProducers, tests).
func (l *Log) OpenTxns() map[int64]int64 {
	if l.enter() != nil {
		return nil
	}
	defer l.leave()
	l.mu.RLock()
	defer l.mu.RUnlock()
	out := make(map[int64]int64, len(l.txns.open))
	maps.Copy(out, l.txns.open)
	return out
}

// controlBatch builds a control batch holding one marker record: key
// version 0 and type, value version 0 and the coordinator epoch (Kafka's
// EndTransactionMarker). Base offset and leader epoch are set on append.
//
//	record: length 16, attributes 0, timestampDelta 0, offsetDelta 0,
//	        keyLength 4, key (version i16 0, type i16),
//	        valueLength 6, value (version i16 0, coordinatorEpoch i32),
//	        headerCount 0
func controlBatch(pid int64, epoch int16, marker int16, coordinatorEpoch int32, ts int64) []byte {
	be := binary.BigEndian
	b := make([]byte, BatchHeaderLen, BatchHeaderLen+17)
	b = binary.AppendVarint(b, 16)
	b = append(b, 0)
	b = binary.AppendVarint(b, 0)
	b = binary.AppendVarint(b, 0)
	b = binary.AppendVarint(b, 4)
	b = be.AppendUint16(b, 0)
	b = be.AppendUint16(b, uint16(marker))
	b = binary.AppendVarint(b, 6)
	b = be.AppendUint16(b, 0)
	b = be.AppendUint32(b, uint32(coordinatorEpoch))
	b = binary.AppendVarint(b, 0)
	be.PutUint64(b[offBaseOffset:], 0)
	be.PutUint32(b[offLength:], uint32(len(b)-batchLengthOverhead))
	b[offMagic] = 2
	be.PutUint16(b[offAttributes:], uint16(attrTransactional|attrControl))
	be.PutUint32(b[offLastOffsetDelta:], 0)
	be.PutUint64(b[offFirstTimestamp:], uint64(ts))
	be.PutUint64(b[offMaxTimestamp:], uint64(ts))
	be.PutUint64(b[offProducerID:], uint64(pid))
	be.PutUint16(b[offProducerEpoch:], uint16(epoch))
	be.PutUint32(b[offBaseSequence:], 0xffffffff) // -1
	be.PutUint32(b[offRecordCount:], 1)
	be.PutUint32(b[offCRC:], crc32.Checksum(b[offAttributes:], castagnoli))
	return b
}

// ControlBatch is the control batch holding a commit (commit true) or
// abort marker of producer pid at epoch, written by the broker for the
// transaction coordinator of coordinatorEpoch at tsMs (Kafka's
// EndTransactionMarker; layout at controlBatch). Its base offset and
// leader epoch are 0: AssignBatch sets them when it is appended.
func ControlBatch(pid int64, epoch int16, commit bool, coordinatorEpoch int32, tsMs int64) []byte {
	marker := MarkerAbort
	if commit {
		marker = MarkerCommit
	}
	return controlBatch(pid, epoch, marker, coordinatorEpoch, tsMs)
}

// MarkerType returns the control type (MarkerCommit, MarkerAbort) of the
// control batch b (whole batch bytes, uncompressed as the broker writes
// them), or -1.
func MarkerType(b []byte) int16 {
	h, err := ParseBatchHeader(b)
	if err != nil || !h.Control() || len(b) < BatchHeaderLen {
		return -1
	}
	typ := int16(-1)
	_ = walkRecords(b[BatchHeaderLen:], 1, func(r rawRecord) error {
		if len(r.key) >= 4 {
			typ = int16(binary.BigEndian.Uint16(r.key[2:]))
		}
		return errStopWalk
	})
	return typ
}

// AppendCoordinator appends a transactional batch written by a
// coordinator on behalf of producer pid (TxnOffsetCommit's offsets in
// __consumer_offsets). As Kafka's coordinator-origin appends, it is
// validated and fenced by epoch like a producer's batch, but its
// sequence numbers are not checked: the coordinator writes sequence 0
// every time, because the producer's sequences belong to its own
// partitions.
func (l *Log) AppendCoordinator(batch []byte) (AppendResult, error) {
	if err := l.enterForWrite(); err != nil {
		return AppendResult{}, err
	}
	defer l.leave()
	return l.validateAndAppend(batch, coordinatorBatch, false)
}

// AppendMarker writes a commit or abort marker of producer pid at epoch
// to the log, ending its open transaction here (if any). A marker with a
// newer epoch than the producer's fences the older epoch, as Kafka's
// markers do. An older epoch is ErrInvalidProducerEpoch.
func (l *Log) AppendMarker(pid int64, epoch int16, commit bool, coordinatorEpoch int32) (AppendResult, error) {
	if err := l.enterForWrite(); err != nil {
		return AppendResult{}, err
	}
	defer l.leave()
	kind := abortMarker
	if commit {
		kind = commitMarker
	}
	now := l.now()
	batch := controlBatch(pid, epoch, kind.controlType(), coordinatorEpoch, now.UnixMilli())
	h, _ := ParseBatchHeader(batch)
	return l.appendBatch(batch, h, l.cfg.Load(), now, kind, false)
}

// applyMarker updates the idempotent state of a producer for its marker:
// a newer epoch starts over at sequence 0.
func (p producerState) applyMarker(h *BatchHeader) {
	e := p[h.ProducerID]
	if e == nil {
		e = &producerEntry{lastSeq: -1}
		p[h.ProducerID] = e
		e.epoch = h.ProducerEpoch
	} else if h.ProducerEpoch > e.epoch {
		e.epoch, e.n, e.lastSeq = h.ProducerEpoch, 0, -1
	}
	e.lastTimestamp = max(e.lastTimestamp, h.MaxTimestamp)
}

// ProducerEpoch returns the current epoch of producer pid in this log, or
// -1 if it is unknown.
func (l *Log) ProducerEpoch(pid int64) int16 {
	if l.enter() != nil {
		return -1
	}
	defer l.leave()
	l.mu.RLock()
	defer l.mu.RUnlock()
	if e := l.prod[pid]; e != nil {
		return e.epoch
	}
	return -1
}

// abortedSet answers whether a batch belongs to an aborted transaction
// (compaction drops those records).
type abortedSet map[int64][]AbortedTxn

func newAbortedSet(a []AbortedTxn) abortedSet {
	if len(a) == 0 {
		return nil
	}
	s := abortedSet{}
	for _, t := range a {
		s[t.ProducerID] = append(s[t.ProducerID], t)
	}
	return s
}

func (s abortedSet) has(h *BatchHeader) bool {
	if s == nil || !h.Transactional() || h.Control() {
		return false
	}
	for _, t := range s[h.ProducerID] {
		if t.FirstOffset <= h.BaseOffset && h.BaseOffset < t.LastOffset {
			return true
		}
	}
	return false
}

// ProducerInfo is one producer's state in a log (DescribeProducers).
type ProducerInfo struct {
	ProducerID    int64
	Epoch         int16
	LastSequence  int32
	LastTimestamp int64
	TxnStart      int64 // first offset of its open transaction, or -1
}

// Producers returns the state of every producer in the log, by id.
func (l *Log) Producers() []ProducerInfo {
	if l.notCreated() {
		return []ProducerInfo{}
	}
	if l.enter() != nil {
		return nil
	}
	defer l.leave()
	l.mu.RLock()
	defer l.mu.RUnlock()
	return producerInfos(l.prod, &l.txns)
}

// producerInfos is the state of every producer of p, by id.
func producerInfos(p producerState, t *txnState) []ProducerInfo {
	out := make([]ProducerInfo, 0, len(p))
	for id, e := range p {
		pi := ProducerInfo{ProducerID: id, Epoch: e.epoch, LastSequence: e.lastSeq, LastTimestamp: e.lastTimestamp, TxnStart: -1}
		if first, ok := t.open[id]; ok {
			pi.TxnStart = first
		}
		out = append(out, pi)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ProducerID < out[j].ProducerID })
	return out
}

// prune forgets aborted transactions whose marker is below the log start
// offset: no fetch can reach them. Called under Log.mu at segment rolls.
func (t *txnState) prune(logStart int64) {
	i := sort.Search(len(t.aborted), func(i int) bool { return t.aborted[i].LastOffset >= logStart })
	if i > 0 {
		t.aborted = slices.Delete(t.aborted, 0, i)
	}
}
