// Package cluster is cluster mode's metadata layer on etcd (issue #20):
// broker membership, partition leadership with Kafka leader epochs, and the
// commit that makes a flushed object's batches durable. The object store
// side (objects, their format, the cache) is internal/objstore. Topics
// live in topics/<name> (topics.go). The broker's cluster mode
// (internal/broker/cluster.go) uses membership, leadership and topics.
//
// # Keys
//
// Everything lives under /sluice/<cluster-id>/ ("<tp>" is the topic id as
// Kafka prints a Uuid, URL-safe base64 without padding, then "/" and the
// partition index). Values are JSON with a version field "v" (1); a reader
// refuses other versions (ErrBadValue).
//
//	brokers/<node-id>          {node, host, port, rack, started, lease}      under the broker's lease
//	leaders/<tp>               {node, epoch}                                 under the leader's lease
//	epochs/<tp>                {epoch}   the last leader epoch; survives the lease
//	hw/<tp>                    {offset}  the high watermark: next offset, all below durable
//	logstart/<tp>              {offset}  the log start offset (retention, DeleteRecords)
//	index/<tp>/<base, 20 digits>  {object, pos, len, last, max_ts, epoch, records}
//	objects/<name>             {size, created, partitions}
//	producers/<tp>             {state}   idempotent producer state (producers.go), written with the offsets
//	producerids                {next}    the producer id counter (blocks taken by CAS)
//	shared/<name>              the file bytes of acls.json, credentials.json or quotas.json (shared.go)
//
// # Membership
//
// Client.Register grants a lease (Config.LeaseTTL, default 10 s) and puts
// brokers/<node-id> under it if no live registration holds the id
// (ErrNodeIDInUse otherwise). The Member's goroutine renews the lease every
// TTL/3; each renewal's validity counts from when it was sent (Config.Now),
// so the broker's idea of its lease ends before etcd's. When a renewal is
// refused (lease gone) or none succeeds within the validity (etcd
// unreachable past the TTL), the membership is lost: the Member drops its
// leaderships, closes Done, reports ErrLeaseLost from Err, and revokes the
// lease if etcd answers. The broker must then stop acting as leader of
// anything and Register again. Member.Close revokes the lease: the broker
// and its leaders/ keys vanish at once. Client.Brokers and
// Client.WatchBrokers (a callback with the live set after each change)
// are the read side.
//
// # Leadership
//
// Member.Acquire(tp) is one txn: If(leaders/<tp> absent, epochs/<tp> and
// hw/<tp> unchanged since read) Then(put leaders/<tp> under this member's
// lease with epoch = last + 1 (0 for a new partition), put epochs/<tp>,
// create hw/<tp> = 0 if missing). The new leader learns the hw and log
// start, loads the index (Client.LoadIndex: pages of 1,000 keys at one
// revision) and continues at hw. The Member remembers each leadership's
// epoch and the create revision of its leaders/ key: that revision is the
// fence. Resign deletes the key if it is still this acquisition's.
// Client.Leader and Client.WatchLeaders are the read side.
//
// # Commit
//
// Member.Commit(appends, object) is ONE txn for a whole flush:
// If(objects/<name> absent, every leaders/<tp> has this acquisition's
// create revision, every hw/<tp> equals the append's first base offset)
// Then(put the index entries, the new hw of each partition,
// objects/<name>) Else(read those keys back). A failed compare whose Else
// finds objects/<name> means an earlier attempt of this very commit was
// applied (object names are unique per flush): Commit returns nil.
// Otherwise it becomes *NotLeaderError (ErrNotLeader, the partitions
// listed: the produces get NOT_LEADER_OR_FOLLOWER) or *HWMismatchError
// (ErrHWMismatch); nothing is applied. etcd unreachable, no etcd leader or
// a timeout is ErrUnavailable (Retriable): the outcome is unknown (the txn
// may even apply after the caller gave up), nothing may be acknowledged;
// retrying the same Commit says whether it was applied, and a later
// commit of the partition fails its hw compare instead of writing a
// second copy of those offsets. Member.DeleteIndexBelow moves the
// log start and deletes index entries below it under the same fence.
// Client.Objects, Client.ScanIndex and Client.DeleteObject serve the
// object garbage collector.
//
// # Transaction size
//
// etcd refuses a txn with more than --max-txn-ops operations in any of
// its lists (128 by default) or larger than --max-request-bytes (1.5 MiB).
// A commit costs 2 compares and 2 Else reads per partition, 1 put per
// index entry plus 1 per partition and 1 for a partition's producer state
// (producers/, when the flush carries idempotent batches of it), and for
// the object record 1 compare, 1 put and 1 Else read: with one entry per
// partition, at most 3P+1 operations in a list. Config.MaxTxnOps states
// the server's limit and Commit refuses a larger commit with
// ErrTxnTooLarge before sending it; it never splits one (that would break
// its atomicity). Client.MaxPartitionsPerCommit tells the flusher how many
// partitions one flush may carry (42 at the default); clusters whose
// brokers lead more partitions run etcd with a larger --max-txn-ops (tests
// use 4096: 1,365 partitions per flush) and set Config.MaxTxnOps to match.
// A partition's part is about 750 bytes plus its producer state (about
// 160 bytes per producer, base64), so etcd's --max-request-bytes (1.5 MiB)
// bounds a flush at about 2,000 partitions without producer state (the
// flusher keeps the producer state of one commit under 1 MiB); etcd
// refuses a larger txn, which Commit reports as
// ErrTxnTooLarge too, as a request over the client's
// Config.MaxCallSendMsgSize (2 MiB by default), which is never sent.
package cluster
