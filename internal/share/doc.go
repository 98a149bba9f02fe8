// Package share is the share-group coordinator (KIP-932, Kafka 4.2's share
// groups: queues on Kafka topics) as a deterministic state machine without
// I/O, in the shape of internal/group: no goroutines, no sockets, no clock of
// its own. The broker (internal/broker/share*.go and the ShareGroup*/Share*
// API files) feeds it requests and ticks, reads record bytes from the logs,
// and appends the state records it asks for to __share_group_state outside
// the coordinator's mutex.
//
// # Membership
//
// ShareGroupHeartbeat joins (epoch 0, client-chosen member id), heartbeats
// and leaves (epoch -1). The group epoch is bumped when a member joins,
// leaves or expires (group.share.session.timeout.ms without a heartbeat,
// through Tick), when a subscription changes, and when a subscribed topic's
// partition count changes; the target assignment is then recomputed by the
// simple assignor (assign.go). Share groups need no revocation: several
// members may consume one partition, so a member takes its new assignment
// and the group epoch in the heartbeat that sees it.
//
// # Share partitions
//
// Each (group, topic id, partition) the group fetches has a share-partition
// (partition.go): a start offset (SPSO), below which every record is done,
// and the in-flight records from there to the end offset (SPEO), each
// Available, Acquired (by one member, under a lock of
// group.share.record.lock.duration.ms), Acknowledged or Archived, with its
// delivery count. ShareFetch acquires available records first, then new
// ones, at most group.share.partition.max.record.locks in flight; a release
// or an expired lock makes a record available again, or archives it once
// its delivery count reached group.share.delivery.count.limit. Accept
// acknowledges, reject and gap archive. The start offset advances over
// acknowledged and archived records.
//
// # Persistence
//
// Every change to what is durable in a share-partition (start offset,
// acknowledged, archived, released and their delivery counts; acquisition is
// not durable, as in Kafka) bumps its sequence number; the broker then
// appends a ShareSnapshot record (records.go, Kafka's schema) with the
// partition's whole durable state and answers the acknowledgement only once
// it is in the log. Snapshots coalesce: one append covers every change made
// before it was taken. Replay at start rebuilds each partition from its last
// snapshot: acquired records come back available.
//
// Share-group membership is not persisted (Kafka writes ShareGroup* records
// to __consumer_offsets; kmsg has no schemas for them): after a restart
// members rejoin, their heartbeats getting UNKNOWN_MEMBER_ID.
package share
