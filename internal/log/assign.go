package log

// Exported batch helpers for a log kept elsewhere than in this package's
// segments (cluster mode's object-stored log, internal/objlog): the same
// validation, header rewrite and timestamp lookup as Append and
// OffsetForTimestamp use, so the two logs cannot drift apart.

// ValidateBatch checks that b, the records of one partition from a
// ProduceRequest, is exactly one well-formed v2 batch acceptable under
// cfg at time now (Unix ms), as Append does before assigning offsets
// (framing, max.message.bytes, CRC, record count, attributes a producer
// may not set, every record's structure, key and timestamp bounds). For
// CreateTime topics it corrects maxTimestamp and a producer-set
// LogAppendTime attribute in place, recomputing the CRC. It does not
// check producer state (idempotence, transactions).
func ValidateBatch(b []byte, cfg *Config, now int64) (BatchHeader, error) {
	return validateBatch(b, cfg, now)
}

// AssignBatch rewrites the header fields the broker owns in b, a batch
// ValidateBatch accepted with header h (updated to match): the base offset
// and the partition leader epoch (neither covered by the CRC), and, when
// appendTime >= 0 (a LogAppendTime topic), the LogAppendTime attribute and
// maxTimestamp = appendTime, recomputing the CRC.
func AssignBatch(b []byte, h *BatchHeader, base int64, leaderEpoch int32, appendTime int64) {
	h.BaseOffset, h.PartitionLeaderEpoch = base, leaderEpoch
	putBaseOffset(b, base)
	putLeaderEpoch(b, leaderEpoch)
	if appendTime >= 0 {
		h.Attributes |= attrLogAppendTime
		h.MaxTimestamp = appendTime
		putAttributes(b, h.Attributes)
		putMaxTimestamp(b, appendTime)
		putCRC(b)
		h.CRC = batchCRC(b)
	}
}

// FirstRecordAtLeast returns the offset and timestamp of the first record
// of the stored batch b at or after offset from whose timestamp is >= ts,
// or (-1, -1, nil) if it has none. Records of a LogAppendTime batch carry
// its maxTimestamp. A batch that does not decode is ErrCorrupt.
func FirstRecordAtLeast(b []byte, from, ts int64) (offset, timestamp int64, err error) {
	h, err := ParseBatchHeader(b)
	if err != nil {
		return -1, -1, err
	}
	if err := checkFraming(h, int64(len(b))); err != nil {
		return -1, -1, err
	}
	return firstRecordAtLeast(&h, b[:h.Size()], from, ts, DefaultConfig().MaxMessageBytes)
}

// CheckStoredBatch checks the framing of the stored batch at the start of
// b (magic 2, a length within b) and returns its header. It does not
// check the CRC (consumers do; reads of this package's segments check it
// once per batch, see verify.go).
func CheckStoredBatch(b []byte) (BatchHeader, error) {
	h, err := ParseBatchHeader(b)
	if err != nil {
		return h, err
	}
	return h, checkFraming(h, int64(len(b)))
}
