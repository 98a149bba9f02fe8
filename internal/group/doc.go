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
//   - Effects are responses, handed to callbacks, and records to persist,
//     handed synchronously to a Persister. JoinGroup and SyncGroup answers
//     are delayed until the rebalance completes, so those two take a
//     callback; the other requests answer at once. Callbacks run after the
//     coordinator's mutex is released, never under it.
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
// offsets when committed. A commit is acknowledged only after Persister.Append
// returned; the in-memory state changes only after a successful append.
//
// KIP-848 consumer groups are not persisted (kmsg has no ConsumerGroup*
// record schemas): only their offsets are, and a restart forgets their
// members, who rejoin. A group id is either classic or consumer (group.cg);
// an empty group of one type turns into the other on first use.
package group
