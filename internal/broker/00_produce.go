package broker

// Produce: v3-13
//
// Behaviour:
// * acks 0, 1 and -1 (all); any other value is INVALID_REQUIRED_ACKS. With
//   one replica, acks=all completes when the log has taken the batch (and,
//   when the topic's flush.messages asks for it, fsynced it).
// * One v2 record batch per partition, validated by the log (CRC-32C,
//   lengths, record count, magic, compression) and stored as sent; errors
//   are per partition: CORRUPT_MESSAGE, INVALID_RECORD, MESSAGE_TOO_LARGE,
//   INVALID_TIMESTAMP, OUT_OF_ORDER_SEQUENCE_NUMBER, INVALID_PRODUCER_EPOCH,
//   KAFKA_STORAGE_ERROR, UNKNOWN_TOPIC_OR_PARTITION (UNKNOWN_TOPIC_ID, v13).
// * Idempotent retries are acknowledged with their original offsets.
// * Transactional batches (WRITE on the transactional id,
//   TRANSACTIONAL_ID_AUTHORIZATION_FAILED) are accepted only for a
//   partition added to the producer's ongoing transaction
//   (AddPartitionsToTxn); otherwise INVALID_TXN_STATE, or
//   INVALID_PRODUCER_EPOCH for a fenced epoch. A transactional batch
//   without a transactional id is INVALID_TXN_STATE; a transactional id
//   with a non-transactional batch is INVALID_RECORD. v12+ (transaction
//   version 2, KIP-890) adds the partition to the transaction itself,
//   starting it if needed.
// * Fetches waiting on a partition are woken by its appends.

import (
	"errors"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice-io/sluice/internal/auth"
	"github.com/sluice-io/sluice/internal/log"
	"github.com/sluice-io/sluice/internal/txn"
)

func init() { register(0, 3, 13, handleProduce) }

func handleProduce(b *Broker, r *request, req *kmsg.ProduceRequest) kmsg.Response {
	resp := req.ResponseKind().(*kmsg.ProduceResponse)
	var reqErr error
	switch {
	case req.Acks != 0 && req.Acks != 1 && req.Acks != -1:
		reqErr = kerr.InvalidRequiredAcks
	case req.TransactionID != nil && !r.allowed(auth.OpWrite, auth.TransactionalID(*req.TransactionID)):
		reqErr = kerr.TransactionalIDAuthorizationFailed
	}
	for _, rt := range req.Topics {
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
		for _, rp := range rt.Partitions {
			sp := kmsg.NewProduceResponseTopicPartition()
			sp.Partition = rp.Partition
			if topicErr != nil {
				sp.ErrorCode = code(topicErr)
			} else {
				b.producePartition(r, t, rp, &sp, req.TransactionID)
			}
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	if req.Acks == 0 {
		return nil
	}
	return resp
}

func (b *Broker) producePartition(r *request, t *topic, rp kmsg.ProduceRequestTopicPartition, sp *kmsg.ProduceResponseTopicPartition, txnID *string) {
	if rp.Partition < 0 || int(rp.Partition) >= len(t.partitions) {
		sp.ErrorCode = kerr.UnknownTopicOrPartition.Code
		return
	}
	p := t.partitions[rp.Partition]
	if h, err := log.ParseBatchHeader(rp.Records); err == nil {
		switch {
		case h.Transactional() && txnID == nil:
			sp.ErrorCode = kerr.InvalidTxnState.Code
			return
		case !h.Transactional() && txnID != nil:
			sp.ErrorCode = kerr.InvalidRecord.Code // as Kafka's request validation
			return
		}
		if h.Transactional() {
			// Held until appended: the transaction cannot end between
			// the check and the append (txn.go).
			b.txns.mu.RLock()
			defer b.txns.mu.RUnlock()
			tp := txn.TopicPartition{Topic: t.meta.Name, Partition: rp.Partition}
			var err error
			if r.version >= 12 {
				err = b.txns.coord.AddPartitions(*txnID, h.ProducerID, h.ProducerEpoch, []txn.TopicPartition{tp}, b.cfg.Now())
				if err == kerr.ProducerFenced {
					err = kerr.InvalidProducerEpoch // Produce has no PRODUCER_FENCED
				}
			}
			if err == nil {
				err = b.txns.coord.Verify(*txnID, h.ProducerID, h.ProducerEpoch, tp)
			}
			if err != nil {
				sp.ErrorCode = code(err)
				return
			}
		}
		if h.ProducerID >= 0 && !r.allowed(auth.OpIdempotentWrite, auth.Cluster()) && !r.allowed(auth.OpWrite, auth.Topic(t.meta.Name)) {
			sp.ErrorCode = kerr.ClusterAuthorizationFailed.Code
			return
		}
	}
	res, err := p.log.Append(rp.Records)
	if err != nil {
		kerrv := appendError(err)
		sp.ErrorCode = kerrv.Code
		sp.ErrorMessage = errMessage(err)
		sp.BaseOffset = -1
		sp.LogAppendTime = -1
		sp.LogStartOffset = p.log.LogStartOffset()
		level := b.logger.Debug
		if kerrv == kerr.KafkaStorageError || kerrv == kerr.CorruptMessage {
			level = b.logger.Warn
		}
		level("produce rejected", "topic", p.topic, "partition", p.index, "error", kerrv.Message, "err", err, "client_id", r.clientID)
		return
	}
	sp.BaseOffset = res.BaseOffset
	sp.LogAppendTime = res.LogAppendTime
	sp.LogStartOffset = res.LogStartOffset
	if !res.Duplicate {
		p.notify()
	}
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
