// Package objlog is cluster mode's object-stored partition log (issue
// #20): the leader side of a partition whose batches live in objects of
// the object store (internal/objstore) and whose offsets are made durable
// in etcd (internal/cluster). It is not wired into `sluice serve` yet
// (DESIGN.md, "Cluster mode").
//
// # Pieces
//
// A Flusher belongs to one broker (one cluster.Member). Flusher.Acquire
// makes the broker a partition's leader (cluster.Member.Acquire, then the
// partition's index from etcd) and returns its Partition. Partition.Append
// validates a produced batch (log.ValidateBatch), gives it the next
// offsets and the leadership's epoch (log.AssignBatch, in place) and
// queues it in the Flusher's one FIFO queue; it returns a Completion. The
// Flusher's goroutine flushes FlushInterval (cluster.flush.interval.ms,
// 25 ms) after the first queued append, or at once when FlushMaxBytes
// (cluster.flush.max.bytes, 4 MiB) or MaxPartitionsPerFlush partitions
// (cluster's MaxPartitionsPerCommit) wait: it takes a prefix of the queue
// (at most those bounds, at least one batch), writes ONE object (the
// objstore format, one entry per partition holding that partition's
// batches back to back), named ObjectPrefix ("data/") + node id, lease,
// a random id of the Flusher and a sequence number, and makes ONE
// cluster.Member.Commit (one index entry and the new hw per partition,
// the object record). Only when the
// commit succeeded are the appends' Completions signalled with their
// offsets (the broker acknowledges then, acks=1 and acks=all alike).
// Flushes run one at a time, so a partition's commits are sequential, as
// Commit requires; a flush taking longer than the interval lets the next
// start as soon as it ends, carrying everything queued meanwhile.
//
// # What a Partition keeps in memory
//
//   - epoch: the leader epoch of this acquisition (written into every
//     batch's partitionLeaderEpoch);
//   - hw: the committed end (etcd's hw/), the high watermark; records
//     below it are durable, nothing at or above it is ever read;
//   - next: the next offset to assign: hw plus the batches queued or in
//     the flush being made;
//   - logStart: the log start offset (etcd's logstart/);
//   - index: the committed index entries from the one holding logStart up
//     to hw, contiguous, loaded from etcd at Acquire and appended by each
//     commit (one entry per flush that carried the partition). Reads
//     find the entry holding an offset by binary search and read its byte
//     range through the read cache (objstore.Cache).
//
// The queued batches themselves are held by the Flusher (bounded by
// MaxPendingBytes, default 8 × FlushMaxBytes; Append answers ErrBusy
// beyond) until their flush ends.
//
// # Commit outcomes
//
// A flush retries retriable errors of the object PUT (the store has
// already retried a few times itself) and of the commit with backoff
// (RetryBackoff doubling to 1 s) until RetryTimeout (the produce request
// timeout, 30 s by default). Per outcome:
//
//   - success: every partition's index entry and hw are published in
//     memory, then its appends are acknowledged.
//   - the PUT fails (retriable past the bound: ErrTimeout; permanent:
//     ErrStorage at once): nothing was committed. The appends fail; the
//     appends of those partitions queued after them (their offsets come
//     after the failed ones) fail too; each partition's next offset goes
//     back to its hw and it takes appends again at once. The object is
//     deleted (best effort).
//   - *cluster.NotLeaderError: this attempt applied nothing. The
//     partitions named are another broker's now: their appends fail with
//     ErrNotLeader (NOT_LEADER_OR_FOLLOWER), the Partition ends
//     (Partition.Err) and its queued appends fail; the commit is retried
//     at once with the other partitions.
//   - cluster.ErrUnavailable (etcd unreachable or slow, a timeout): the
//     outcome is UNKNOWN; the txn may have been applied, now or later
//     (a txn queued in etcd can apply after its caller gave up). Nothing
//     is acknowledged; the commit is retried unchanged. Object names are
//     unique per flush and the commit writes objects/<name> in the same
//     txn, so a retry after an applied attempt finds that record (the
//     Commit's Else branch) and returns nil: the flush succeeds
//     (acknowledged once, stored once). etcd's hw alone proves nothing:
//     an EARLIER flush of unknown outcome applied late can end at the
//     same offset (flush 1 [0,2) times out, the partition resyncs at 0,
//     flush 2 [0,2) with other records times out, flush 1 applies).
//   - *cluster.HWMismatchError (no attempt of this commit was applied,
//     but etcd's hw is not where this leader stands: an earlier flush of
//     unknown outcome applied late, or a hand edit of etcd): the appends
//     fail with ErrTimeout and that partition resyncs (below) with a full
//     reload; the object is deleted unless an attempt still queued in
//     etcd could apply (hw behind the commit's base).
//   - the bound passes with the outcome still unknown: the appends fail
//     with ErrTimeout (REQUEST_TIMED_OUT), never acknowledged, and each
//     partition of the flush becomes "resyncing": its queued appends fail,
//     Append answers ErrBusy, and the Flusher's goroutine reads the hw
//     from etcd (a partition etcd does not answer for is tried again
//     every second; the others go on). hw at the partition's committed
//     end: not applied (yet), continue there. hw at the failed flush's
//     end AND the index entry at its base names the failed flush's
//     object: applied after all: its index entry is added and the
//     partition continues after it (those records are durable and
//     readable though their produce failed, as with a Kafka produce that
//     timed out; an idempotent producer's retry is recognised, since the
//     flush committed its producer state too). Anything else (another flush's entry
//     there, another hw): the partition reloads index, hw and log start
//     from etcd. An attempt still queued in etcd when the hw is read and
//     applied after it makes the leader's next commit at those offsets
//     fail its hw compare (*cluster.HWMismatchError, above), and the
//     partition resyncs again with a full reload: the log stays what
//     etcd's index says, though records of a produce that failed may be
//     in it.
//   - ErrTxnTooLarge or an invalid commit (refused before it was sent):
//     ErrStorage; nothing was applied, the partitions continue at their
//     hw (or resync if an earlier attempt's outcome was unknown) and the
//     object is deleted. Any other error (a bad etcd value, an
//     unclassified transport error) may come after etcd applied the txn:
//     ErrStorage, the object is kept and the partitions resync.
//   - A *cluster.NotLeaderError after an attempt of unknown outcome: that
//     attempt may have been applied before the leadership moved; the
//     appends fail with ErrNotLeader though their records may be durable
//     (the next leader loads them).

// # Failure cases
//
//   - The broker dies: its queued and in-flight appends were never
//     acknowledged. A flush it was making either committed (the next
//     leader loads it from the index) or did not (lost, unacknowledged).
//     The next leader (epoch+1) continues at etcd's hw.
//   - The broker's lease ends (cluster.Member.Done): every Partition ends
//     with ErrNotLeader and its queued appends fail; a commit in progress
//     fails its fence.
//   - Another broker acquired a partition this one still believes it
//     leads: the commit's fence fails (NotLeaderError): nothing of the
//     flush is visible anywhere, its appends fail with
//     NOT_LEADER_OR_FOLLOWER, the object is deleted.
//   - etcd unavailable: appends wait up to RetryTimeout, then fail with
//     REQUEST_TIMED_OUT and the partitions resync when etcd is back; reads
//     of committed data go on (the index is in memory).
//   - The object store slow or failing: appends wait (retries within
//     RetryTimeout), then fail retriably; reads fail with ErrTimeout
//     (REQUEST_TIMED_OUT) or ErrStorage; both recover by themselves.
//   - Objects of flushes whose commit outcome stayed unknown and was not
//     applied have no objects/ record; the object garbage collector (GC,
//     gc.go) lists the store as well as etcd and deletes them once they
//     are GCConfig.OrphanAge old.
//
// # Reads and offsets
//
// Partition.Read returns the stored batches from the one holding an
// offset, at least one whole batch, up to maxBytes, checking each range
// against its index entry before the cache keeps it: the range's CRC32C
// (the object footer's entry CRC, copied into the etcd index entry), then
// its batch framing and offsets. A range failing the check is read again
// from the store once, then fails with ErrStorage wrapping
// objstore.ErrCorrupt (and an error log line); it is never cached, and a
// cached copy failing it is dropped (objstore.Cache.GetChecked). OffsetForTimestamp
// and MaxTimestamp (ListOffsets) choose the index entry by its max
// timestamp and read only that range; earliest and latest are
// LogStartOffset and HighWatermark. DeleteRecords moves the log start
// under the leadership's fence (cluster.Member.DeleteIndexBelow);
// RetentionOffset computes where retention.ms and retention.bytes would
// move it, judging whole index entries as Kafka judges segments.
// Partition.Changed is closed when the hw moves (a fetch waiting for
// data selects on it).
//
// # Idempotent producers
//
// Append checks a batch with a producer id against the partition's
// producer state as single-node mode's Log does (internal/log's
// ProducerState: epoch fencing, sequences, the last 5 batches of each
// producer); a retry of a batch still waiting gets the original's
// Completion, of a committed one its offsets at once. A flush carrying
// idempotent batches commits the partition's state after them in the
// same etcd txn as their offsets (producers/<tp>), so a new leader loads
// state and data consistent with each other at Acquire; producers.go has
// the rules for failed flushes. Producers are forgotten after
// producer.id.expiration.ms (the state committed by a flush and loaded at
// Acquire drops them).
//
// # Transactions
//
// Append takes transactional batches (checked as idempotent ones; the
// first of a producer opens its transaction in the partition);
// AppendMarker writes the coordinator's commit and abort markers through
// the same queue and flush. The partition's producer state carries its
// open and aborted transactions (log.ProducerState, single-node mode's
// rules), so they are committed to etcd with the offsets and loaded by
// the next leader. LastStableOffset, AbortedTxns and ReadCommitted
// (read_committed fetches: batches below the LSO and the aborted
// transactions among them) answer from the committed state; txn.go has
// the rules.
//
// # Not yet here
//
// Compaction, reads by brokers that do not lead the partition.
package objlog
