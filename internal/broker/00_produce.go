package broker

// Produce: v0-13
//
// Behaviour:
// * acks 0, 1 and -1 (all); any other value is INVALID_REQUIRED_ACKS. With
//   one replica, acks=all completes when the log has taken the batch (and,
//   when the topic's flush.messages asks for it, fsynced it).
// * v3+: one v2 record batch per partition (magic 0 or 1 is
//   INVALID_RECORD, as Kafka's request validation), validated by the log
//   (CRC-32C, lengths, record count, compression) and stored as sent;
//   errors are per partition: CORRUPT_MESSAGE, INVALID_RECORD,
//   MESSAGE_TOO_LARGE, INVALID_TIMESTAMP, OUT_OF_ORDER_SEQUENCE_NUMBER,
//   INVALID_PRODUCER_EPOCH, KAFKA_STORAGE_ERROR, UNKNOWN_TOPIC_OR_PARTITION
//   (UNKNOWN_TOPIC_ID, v13), with base offset -1. zstd before v7 is
//   UNSUPPORTED_COMPRESSION_TYPE.
// * v0-v2 (for old clients; Kafka 4 dropped them, KIP-896): a message set
//   of magic 0 or 1, CRC-checked and up-converted to one v2 batch with the
//   same compression codec (log.UpConvert); magic 0 records have no
//   timestamp (-1).
// * Keyless records on a compacted topic, CreateTime timestamps out of
//   range and a producer's LogAppendTime batch on a LogAppendTime topic are
//   checked on every record: the batch fails with INVALID_RECORD
//   (INVALID_TIMESTAMP if any timestamp is bad) and Kafka's message, and
//   v8+ lists each bad record in record_errors (index and message), so
//   clients fail only those.
// * Idempotent retries are acknowledged with their original offsets.
// * Transactional batches (WRITE on the transactional id,
//   TRANSACTIONAL_ID_AUTHORIZATION_FAILED) are accepted only for a
//   partition added to the producer's ongoing transaction
//   (AddPartitionsToTxn); otherwise INVALID_TXN_STATE, or
//   INVALID_PRODUCER_EPOCH for a fenced epoch. A transactional batch
//   without a transactional id is INVALID_TXN_STATE; a transactional id
//   with a non-transactional batch is accepted, as Kafka. v12+ (transaction
//   version 2, KIP-890) adds the partition to the transaction itself,
//   starting it if needed.
// * Fetches waiting on a partition are woken by its appends.
// * Group commit: when a topic's flush.messages makes an append wait for an
//   fsync, every partition of the request is appended first and their
//   fsyncs then run together (up to produceSyncWorkers at once), so the
//   file system commits them in one journal transaction rather than one
//   after another; each log also shares an fsync between the requests
//   waiting on it (log.SyncTo).
// * With acks 1 or -1 and a timeout above 0, a request stops appending at
//   half its timeout: the partitions not reached get REQUEST_TIMED_OUT and
//   are not appended (the client retries them), so a request over more
//   partitions than the broker can load in time is answered before the
//   client gives up on it. The first partition is always appended.

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice-io/sluice/internal/auth"
	"github.com/sluice-io/sluice/internal/log"
	"github.com/sluice-io/sluice/internal/txn"
)

func init() { register(0, 0, 13, handleProduce) }

func handleProduce(b *Broker, r *request, req *kmsg.ProduceRequest) kmsg.Response {
	resp := req.ResponseKind().(*kmsg.ProduceResponse)
	var reqErr error
	switch {
	case req.Acks != 0 && req.Acks != 1 && req.Acks != -1:
		reqErr = kerr.InvalidRequiredAcks
	case req.TransactionID != nil && !r.allowed(auth.OpWrite, auth.TransactionalID(*req.TransactionID)):
		reqErr = kerr.TransactionalIDAuthorizationFailed
	}
	var syncs []pendingSync
	// A request's appends stop at half its timeout: the partitions not
	// reached by then get REQUEST_TIMED_OUT, not appended, so the client
	// has its answer before its own deadline (the timeout plus a margin)
	// and retries only those. Without it a request over more partitions
	// than the broker can load in time (the first use of many partitions,
	// each loaded and others closed under log.open.files.max) is resent
	// whole by the client and never completes. The first partition is
	// always appended, so every request makes progress; acks=0 has no
	// answer to time out.
	var deadline time.Time
	if req.Acks != 0 && req.TimeoutMillis > 0 {
		deadline = b.cfg.Now().Add(time.Duration(req.TimeoutMillis) * time.Millisecond / 2)
	}
	tried, timedOut := false, 0
	for ti, rt := range req.Topics {
		st := kmsg.NewProduceResponseTopic()
		st.Topic, st.TopicID = rt.Topic, rt.TopicID
		var t *topic
		topicErr := reqErr
		if topicErr == nil {
			if r.version >= 13 {
				if t = b.topicByID(rt.TopicID); t == nil {
					topicErr = kerr.UnknownTopicID
				}
			} else if t = b.topic(rt.Topic); t == nil {
				topicErr = kerr.UnknownTopicOrPartition
			}
			if (t != nil || r.version < 13) && !r.allowed(auth.OpWrite, auth.Topic(topicName(t, rt.Topic))) {
				topicErr = kerr.TopicAuthorizationFailed
			}
		}
		for pi, rp := range rt.Partitions {
			sp := kmsg.NewProduceResponseTopicPartition()
			sp.Partition = rp.Partition
			switch {
			case topicErr != nil:
				sp.ErrorCode, sp.BaseOffset = code(topicErr), -1
			case tried && !deadline.IsZero() && b.cfg.Now().After(deadline):
				sp.ErrorCode = kerr.RequestTimedOut.Code
				sp.BaseOffset, sp.LogAppendTime, sp.LogStartOffset = -1, -1, -1
				timedOut++
			default:
				tried = true
				if p, target := b.producePartition(r, t, rp, &sp, req.TransactionID); target > 0 {
					syncs = append(syncs, pendingSync{p: p, target: target, topic: ti, part: pi})
				}
			}
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	if timedOut > 0 {
		r.c.logger.Warn("produce request timed out before every partition was appended; the rest answered REQUEST_TIMED_OUT",
			"partitions_timed_out", timedOut, "timeout_ms", req.TimeoutMillis)
	}
	if req.Acks == 0 {
		if len(syncs) > 0 {
			b.syncProduced(r, resp, syncs)
		}
		return nil
	}
	if len(syncs) > 0 {
		// The ack waits for the fsyncs, the connection does not: the
		// fsyncs start now, on a goroutine of their own, and the
		// connection's writer goroutine waits for them and answers in
		// request order while the connection reads and appends the
		// client's next requests (pipeline.go). A client's produce
		// requests in flight (franz-go keeps up to 5 per broker) then
		// share the fsyncs of a partition (group commit) and overlap
		// those of different partitions. Waiting here would allow one
		// request per fsync on a connection and queue the rest behind
		// it. The writer waits for every pending response, even after a
		// failed write, so the goroutine never outlives the connection.
		synced := make(chan struct{})
		go func() {
			defer close(synced)
			b.syncProduced(r, resp, syncs)
		}()
		return &pendingResponse{Response: resp, wait: func() { <-synced }}
	}
	return resp
}

// producePartition appends one partition's batch and fills sp. When the
// topic's flush.messages needs an fsync before the ack it returns the
// partition and the offset to sync to, for syncProduced.
func (b *Broker) producePartition(r *request, t *topic, rp kmsg.ProduceRequestTopicPartition, sp *kmsg.ProduceResponseTopicPartition, txnID *string) (*partition, int64) {
	// Kafka's errors carry no offsets (PartitionResponse(Errors)).
	sp.BaseOffset, sp.LogAppendTime, sp.LogStartOffset = -1, -1, -1
	if rp.Partition < 0 || int(rp.Partition) >= len(t.partitions) {
		sp.ErrorCode = kerr.UnknownTopicOrPartition.Code
		return nil, 0
	}
	p := t.partitions[rp.Partition]
	records := rp.Records
	if r.version < 3 {
		// v0-v2 carry a v0/v1 message set: stored as a v2 batch.
		v2, err := p.log.UpConvert(records)
		if err != nil {
			b.produceFailed(r, p, sp, err)
			return nil, 0
		}
		records = v2
	} else if len(records) > log.MagicOffset && (records[log.MagicOffset] == 0 || records[log.MagicOffset] == 1) {
		// As Kafka's ProduceRequest.validateRecords, before the log (a
		// magic above 2 is CORRUPT_MESSAGE there and here).
		sp.ErrorCode = kerr.InvalidRecord.Code
		sp.ErrorMessage = kmsg.StringPtr(fmt.Sprintf("Produce requests with version %d are only allowed to contain record batches with magic version 2", r.version))
		return nil, 0
	}
	if h, err := log.ParseBatchHeader(records); err == nil {
		if r.version >= 3 && r.version < 7 && h.Magic == 2 && h.Compression() == log.CodecZstd {
			// Also Kafka's request validation: zstd came with v7.
			sp.ErrorCode = kerr.UnsupportedCompressionType.Code
			return nil, 0
		}
		// A transactional id on a non-transactional batch is fine:
		// Kafka checks the id only for transactional batches.
		if h.Transactional() && txnID == nil {
			sp.ErrorCode = kerr.InvalidTxnState.Code
			return nil, 0
		}
		if h.Transactional() {
			tp := txn.TopicPartition{Topic: t.meta.Name, Partition: rp.Partition}
			var err error
			if r.version >= 12 {
				unlock := b.txns.locks.lock(*txnID)
				err = b.txns.apply(b.txns.coord.AddPartitions(*txnID, h.ProducerID, h.ProducerEpoch, []txn.TopicPartition{tp}, b.cfg.Now()))
				unlock()
				if err == kerr.ProducerFenced {
					err = kerr.InvalidProducerEpoch // Produce has no PRODUCER_FENCED
				}
			}
			// Held until appended: the transaction cannot end between
			// the check and the append (txn.go).
			defer b.txns.locks.rlock(*txnID)()
			if err == nil {
				err = b.txns.coord.Verify(*txnID, h.ProducerID, h.ProducerEpoch, tp)
			}
			if err != nil {
				sp.ErrorCode = code(err)
				return nil, 0
			}
		}
		if h.ProducerID >= 0 && !r.allowed(auth.OpIdempotentWrite, auth.Cluster()) && !r.allowed(auth.OpWrite, auth.Topic(t.meta.Name)) {
			sp.ErrorCode = kerr.ClusterAuthorizationFailed.Code
			return nil, 0
		}
	}
	res, target, err := p.log.AppendDeferred(records)
	if err != nil {
		b.produceFailed(r, p, sp, err)
		return nil, 0
	}
	sp.BaseOffset = res.BaseOffset
	sp.LogAppendTime = res.LogAppendTime
	sp.LogStartOffset = res.LogStartOffset
	if !res.Duplicate {
		p.bytesIn.Add(uint64(len(records)))
		p.recordsIn.Add(uint64(res.LastOffset - res.BaseOffset + 1))
		p.notify()
	}
	return p, target
}

// pendingSync is an appended batch whose ack waits for an fsync: the
// partition, the offset to sync to and where its response is in resp.
type pendingSync struct {
	p           *partition
	target      int64
	topic, part int
}

// produceSyncWorkers bounds the fsyncs one Produce request runs at once.
const produceSyncWorkers = 16

// syncProduced fsyncs the partitions a Produce request appended to, at the
// same time, and fails the response of any whose fsync failed.
func (b *Broker) syncProduced(r *request, resp *kmsg.ProduceResponse, syncs []pendingSync) {
	fail := func(s pendingSync, err error) {
		sp := &resp.Topics[s.topic].Partitions[s.part]
		sp.BaseOffset, sp.LogAppendTime = -1, -1
		b.produceFailed(r, s.p, sp, err)
	}
	if len(syncs) == 1 {
		if err := syncs[0].p.log.SyncTo(syncs[0].target); err != nil {
			fail(syncs[0], err)
		}
		return
	}
	errs := make([]error, len(syncs))
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(len(syncs), produceSyncWorkers) {
		wg.Go(func() {
			for i := int(next.Add(1) - 1); i < len(syncs); i = int(next.Add(1) - 1) {
				errs[i] = syncs[i].p.log.SyncTo(syncs[i].target)
			}
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			fail(syncs[i], err)
		}
	}
}

// produceFailed fills sp for a batch the log refused: the error, Kafka's
// message, the bad records (v8+) and the log start offset.
func (b *Broker) produceFailed(r *request, p *partition, sp *kmsg.ProduceResponseTopicPartition, err error) {
	kerrv := appendError(err)
	sp.ErrorCode = kerrv.Code
	sp.ErrorMessage = errMessage(err)
	sp.LogStartOffset = p.log.LogStartOffset()
	var re *log.RecordErrors
	if errors.As(err, &re) {
		for _, rec := range re.Records() {
			e := kmsg.NewProduceResponseTopicPartitionErrorRecord()
			e.RelativeOffset = rec.Index
			e.ErrorMessage = kmsg.StringPtr(rec.Message)
			sp.ErrorRecords = append(sp.ErrorRecords, e)
		}
	}
	level := b.logger.Debug
	if kerrv == kerr.KafkaStorageError || kerrv == kerr.CorruptMessage {
		level = b.logger.Warn
	}
	level("produce rejected", "topic", p.topic, "partition", p.index, "error", kerrv.Message, "err", err, "client_id", r.clientID)
}

// appendError maps a log error to the wire error Kafka returns for it.
func appendError(err error) *kerr.Error {
	switch {
	case log.IsCorruption(err):
		return kerr.CorruptMessage
	case errors.Is(err, log.ErrInvalidRecord):
		return kerr.InvalidRecord
	case errors.Is(err, log.ErrMessageTooLarge):
		return kerr.MessageTooLarge
	case errors.Is(err, log.ErrInvalidTimestamp):
		return kerr.InvalidTimestamp
	case errors.Is(err, log.ErrOutOfOrderSequence):
		return kerr.OutOfOrderSequenceNumber
	case errors.Is(err, log.ErrInvalidProducerEpoch):
		return kerr.InvalidProducerEpoch
	case errors.Is(err, log.ErrClosed):
		return kerr.NotLeaderForPartition
	case errors.Is(err, log.ErrDecompressBusy):
		// Retriable in every client; nothing was appended.
		return kerr.RequestTimedOut
	default:
		return kerr.KafkaStorageError
	}
}
