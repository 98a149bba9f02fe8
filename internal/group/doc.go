// Package group is the consumer-group coordinator (classic groups:
// JoinGroup, SyncGroup, Heartbeat, LeaveGroup; KIP-848 consumer groups:
// ConsumerGroupHeartbeat and ConsumerGroupDescribe with server-side
// assignors, see consumer.go; offset commits and fetches, group
// administration) as a deterministic state machine, in the shape of
// etcd-io/raft: no goroutines, no sockets, no clock of its own.
//
//   - Inputs are requests (kmsg types, already authorized by the broker),
//     records replayed from __consumer_offsets at start (Replay, Loaded), and
//     time, which only advances through Tick(now).
//   - Timers are outputs too: Tick returns the next deadline (the earliest
//     session, rebalance, sync or pending-member deadline of any group, or
//     the next offset-retention pass), and a request or applied write that
//     makes an earlier one hands it to Config.Timer after the mutex is
//     released. The driver ticks then; nothing polls.
//   - Effects are responses, handed to callbacks, and records to append to
//     __consumer_offsets, handed out as a Write (Config.Write). The broker
//     appends a Write without the coordinator's mutex and reports the
//     outcome with Applied; only then does the change it carries take
//     effect (or, on an error, not) and the request that made it get its
//     answer, as Kafka's coordinator completes a store in its append
//     callback. A group has one Write out at a time; its later ones queue
//     behind it, so its records reach the log, and are applied, in the
//     order they were made, while other groups never wait for them.
//     Requests that write (OffsetCommit, TxnOffsetCommit, DeleteOffsets,
//     DeleteGroup) and those answered after a rebalance (JoinGroup,
//     SyncGroup) take a callback; the others answer at once. Callbacks and
//     Config.Write run after the coordinator's mutex is released, never
//     under it. Output order is deterministic: Tick walks groups by id and
//     a group's records by topic and partition.
//
// # States (Kafka's GroupState)
//
//	Empty ──join──▶ PreparingRebalance ──all joined / timeout──▶ CompletingRebalance
//	  ▲                 ▲      │ (no member left)                      │ leader SyncGroup
//	  └─────────────────┼──────┘                                      ▼
//	                    └────── member joins, leaves, expires ──── Stable
//	Empty ──delete / offsets expired──▶ Dead (forgotten)
//
// # Persistence
//
// Records use Kafka's __consumer_offsets schemas, encoded with kmsg:
//
//	key OffsetCommitKey v1   (group, topic, partition) → value OffsetCommitValue v3
//	                                                       (v1 when the commit asked for a retention time)
//	key GroupMetadataKey v2  (group)                   → value GroupMetadataValue v3
//	a nil value is a tombstone.
//
// A group lives in partition abs(javaStringHashCode(group)) % partitions of
// __consumer_offsets (PartitionFor), as in Kafka. Group metadata is written
// when a generation's assignment is complete (leader SyncGroup), when a
// rebalance leaves the group empty, and when a static member is replaced;
// offsets when committed. A commit is acknowledged only after its Write
// was applied; the in-memory state changes only after a successful append.
// The leader's assignment makes the group Stable only once it is written
// (members syncing meanwhile wait); a static member's replacement is
// reverted if its write fails; a group being deleted (or expiring) is Dead
// until its tombstones are written (requests on it get
// COORDINATOR_NOT_AVAILABLE, which clients retry) and gone after.
//
// KIP-848 consumer groups are not persisted (kmsg has no ConsumerGroup*
// record schemas): only their offsets are, and a restart forgets their
// members, who rejoin. A group id is either classic or consumer (group.cg);
// an empty group of one type turns into the other on first use.
//
// # Files
//
//	coordinator.go  Config, the Coordinator, writes and Applied, Tick
//	group.go        the group type both protocols share
//	classic.go      JoinGroup, SyncGroup, Heartbeat, LeaveGroup, rebalances
//	protocols.go    classic protocol selection and member metadata
//	consumer.go     KIP-848 ConsumerGroupHeartbeat, reconciliation, describe
//	assign.go       the KIP-848 server-side assignors (uniform, range)
//	offsets.go      OffsetCommit, OffsetFetch, OffsetDelete, offset retention
//	txn.go          TxnOffsetCommit and transaction ends
//	records.go      __consumer_offsets records and replay
//	admin.go        ListGroups, DescribeGroups, DeleteGroups
package group
