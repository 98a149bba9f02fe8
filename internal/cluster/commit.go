package cluster

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// IndexEntry is one index/<topic-id>/<partition>/<base offset> value: a
// range of batches stored back to back in one object.
type IndexEntry struct {
	BaseOffset   int64
	LastOffset   int64
	Object       string
	Position     int64 // byte offset of the first batch in the object
	Length       int64 // bytes of the range
	MaxTimestamp int64 // unix ms
	LeaderEpoch  int32 // the partition leader epoch of the batches
	RecordCount  int64
	CRC          uint32 // CRC32C (Castagnoli) of the range's bytes
}

// PartitionAppend is one partition's part of a flush: the index entries of
// its batches in the flushed object, contiguous from the partition's hw,
// and the new hw (the last entry's LastOffset+1).
type PartitionAppend struct {
	Partition   TopicPartition
	LeaderEpoch int32 // the epoch this broker leads the partition at
	Entries     []IndexEntry
	HW          int64
	// Producers, when not nil, replaces the partition's idempotent
	// producer state (producers/<tp>) in the same txn: the state after
	// every batch below HW (internal/log ProducerState.MarshalBinary).
	// Nil leaves it as it is.
	Producers []byte
}

// ObjectMeta is the objects/<name> record of a flushed object.
type ObjectMeta struct {
	Name    string
	Size    int64
	Created time.Time
}

// NotLeaderError is the *ErrNotLeader error of Commit and DeleteIndexBelow:
// the partitions this broker does not lead at the given epoch (now or any
// more). Nothing of the commit was applied.
type NotLeaderError struct{ Partitions []TopicPartition }

func (e *NotLeaderError) Error() string {
	s := make([]string, len(e.Partitions))
	for i, tp := range e.Partitions {
		s[i] = tp.String()
	}
	return fmt.Sprintf("%v: %s", ErrNotLeader, strings.Join(s, ", "))
}

// Is makes errors.Is(err, ErrNotLeader) true.
func (e *NotLeaderError) Is(target error) bool { return target == ErrNotLeader }

// HWMismatchError is the *ErrHWMismatch error of Commit: this broker still
// leads the partition but its hw in etcd is not where the commit's first
// entry starts, and no attempt of this commit was applied (its objects/
// record is absent). It happens to a correct leader when an EARLIER
// commit (another object) that failed with ErrUnavailable was applied
// after all, possibly long after its caller gave up. Nothing of this
// commit was applied; the leader reloads the partition (HW, LoadIndex)
// before it appends again.
type HWMismatchError struct {
	Partition TopicPartition
	Expected  int64 // the commit's first base offset
	Actual    int64 // hw in etcd
}

func (e *HWMismatchError) Error() string {
	return fmt.Sprintf("%v: %s at %d, commit starts at %d", ErrHWMismatch, e.Partition, e.Actual, e.Expected)
}

// Is makes errors.Is(err, ErrHWMismatch) true.
func (e *HWMismatchError) Is(target error) bool { return target == ErrHWMismatch }

// Commit makes one flush durable as ONE etcd transaction:
//
//	If(   objects/<name> does not exist; for every partition: leaders/<tp>
//	      has the create revision of this member's acquisition at that
//	      epoch, and hw/<tp> is the first entry's base offset)
//	Then( for every partition: put index/<tp>/<base> per entry, put hw/<tp>,
//	      put producers/<tp> if Producers is set; put objects/<name>)
//	Else( read objects/<name>, every leaders/<tp> and hw/<tp>)
//
// Object names must be unique per flush: objects/<name> is written only
// by this txn, so its presence proves that an attempt of THIS commit was
// applied. On success (nil) every entry is durable and may be
// acknowledged. ErrUnavailable (Retriable) means the outcome is unknown:
// acknowledge nothing and retry the same Commit (same object, same
// appends, or a subset of the partitions after a *NotLeaderError); a
// retry after an applied attempt returns nil (the Else branch found
// objects/<name>). Otherwise, a partition not led at its epoch (known
// locally, or found by the failed compare) fails the whole commit with
// *NotLeaderError naming every such partition; a moved hw with
// *HWMismatchError. In both cases nothing of this attempt was applied and
// no earlier attempt was either (when the failed compare was read; a
// locally known *NotLeaderError proves nothing about earlier attempts).
// A commit needing more than Config.MaxTxnOps operations in one list
// fails with ErrTxnTooLarge before it is sent (see MaxPartitionsPerCommit).
// A partition's commits must be made one at a time, each after the
// previous one returned: one started at a hw an unfinished commit has not
// yet reached fails with ErrHWMismatch.
func (m *Member) Commit(ctx context.Context, appends []PartitionAppend, obj ObjectMeta) error {
	if len(appends) == 0 {
		return fmt.Errorf("%w: a commit of no partitions", ErrInvalid)
	}
	if obj.Name == "" || strings.ContainsAny(obj.Name, "\x00") {
		return fmt.Errorf("%w: object name %q", ErrInvalid, obj.Name)
	}
	c := m.c
	var (
		cmps     []clientv3.Cmp
		puts     []clientv3.Op
		checks   []clientv3.Op
		parts    []string
		notLead  []TopicPartition
		seen     = make(map[TopicPartition]bool, len(appends))
		fenceFor = make([]holding, len(appends))
	)
	for i, a := range appends {
		tp := a.Partition
		if seen[tp] {
			return fmt.Errorf("%w: partition %s twice in one commit", ErrInvalid, tp)
		}
		seen[tp] = true
		if err := checkEntries(a, obj.Name); err != nil {
			return err
		}
		h, ok := m.held(tp, a.LeaderEpoch)
		if !ok {
			notLead = append(notLead, tp)
			continue
		}
		fenceFor[i] = h
		lk, hk := c.k.leader(tp), c.k.hw(tp)
		cmps = append(cmps,
			clientv3.Compare(clientv3.CreateRevision(lk), "=", h.rev),
			clientv3.Compare(clientv3.Value(hk), "=", encodeOffset(a.Entries[0].BaseOffset)))
		for _, e := range a.Entries {
			e.Object = obj.Name
			puts = append(puts, clientv3.OpPut(c.k.indexEntry(tp, e.BaseOffset), encodeIndexValue(e)))
		}
		puts = append(puts, clientv3.OpPut(hk, encodeOffset(a.HW)))
		if a.Producers != nil {
			puts = append(puts, clientv3.OpPut(c.k.producers(tp), encode(producersValue{V: valueVersion, State: a.Producers})))
		}
		checks = append(checks, clientv3.OpGet(lk, clientv3.WithKeysOnly()), clientv3.OpGet(hk))
		parts = append(parts, tp.String())
	}
	if len(notLead) > 0 {
		return &NotLeaderError{Partitions: notLead}
	}
	slices.Sort(parts)
	objKey := c.k.object(obj.Name)
	cmps = append(cmps, clientv3.Compare(clientv3.CreateRevision(objKey), "=", 0))
	checks = append(checks, clientv3.OpGet(objKey, clientv3.WithKeysOnly()))
	puts = append(puts, clientv3.OpPut(objKey, encode(objectValue{
		V: valueVersion, Size: obj.Size, Created: obj.Created.UnixMilli(), Partitions: parts,
	})))
	if n := max(len(cmps), len(puts), len(checks)); n > c.cfg.MaxTxnOps {
		return fmt.Errorf("%w: %d partitions need %d operations, etcd's --max-txn-ops (Config.MaxTxnOps) is %d", ErrTxnTooLarge, len(appends), n, c.cfg.MaxTxnOps)
	}
	rctx, cancel := c.reqCtx(ctx)
	defer cancel()
	resp, err := c.etcd.Txn(rctx).If(cmps...).Then(puts...).Else(checks...).Commit()
	if err != nil {
		return fmt.Errorf("cluster: committing object %s (%d partitions): %w", obj.Name, len(appends), classify(err))
	}
	if resp.Succeeded {
		return nil
	}
	// An earlier attempt of this commit was applied: its object record
	// exists (the Else branch's last read).
	if or := resp.Responses[len(resp.Responses)-1].GetResponseRange(); len(or.Kvs) > 0 {
		c.log.Info("commit found applied by an earlier attempt", "node", m.info.NodeID, "object", obj.Name)
		return nil
	}
	// Which compare failed: the Else branch read every leaders/ key and hw.
	var mismatch *HWMismatchError
	for i, a := range appends {
		lr := resp.Responses[2*i].GetResponseRange()
		hr := resp.Responses[2*i+1].GetResponseRange()
		if len(lr.Kvs) == 0 || lr.Kvs[0].CreateRevision != fenceFor[i].rev {
			notLead = append(notLead, a.Partition)
			continue
		}
		var hw offsetValue
		if len(hr.Kvs) == 0 {
			return fmt.Errorf("%w: %s", ErrBadValue, c.k.hw(a.Partition)+" is missing under a live leader")
		}
		if err := decode(c.k.hw(a.Partition), hr.Kvs[0].Value, &hw); err != nil {
			return err
		}
		if hw.Offset != a.Entries[0].BaseOffset && mismatch == nil {
			mismatch = &HWMismatchError{Partition: a.Partition, Expected: a.Entries[0].BaseOffset, Actual: hw.Offset}
		}
	}
	if len(notLead) > 0 {
		m.mu.Lock()
		for _, tp := range notLead {
			delete(m.leading, tp)
		}
		m.mu.Unlock()
		c.log.Warn("commit fenced: leadership lost", "node", m.info.NodeID, "object", obj.Name, "partitions", len(notLead))
		return &NotLeaderError{Partitions: notLead}
	}
	if mismatch != nil {
		c.log.Warn("commit refused: hw moved", "node", m.info.NodeID, "object", obj.Name, "err", mismatch)
		return mismatch
	}
	return fmt.Errorf("%w: commit of %s failed its compare but no partition differs", ErrUnavailable, obj.Name)
}

// checkEntries checks one append: entries contiguous, non-empty ranges,
// HW after the last.
func checkEntries(a PartitionAppend, object string) error {
	if len(a.Entries) == 0 {
		return fmt.Errorf("%w: %s: no index entries", ErrInvalid, a.Partition)
	}
	next := a.Entries[0].BaseOffset
	for _, e := range a.Entries {
		if e.BaseOffset != next || e.LastOffset < e.BaseOffset || e.BaseOffset < 0 || e.Position < 0 || e.Length <= 0 {
			return fmt.Errorf("%w: %s: index entry [%d, %d] at %d+%d (expected base %d) in %s", ErrInvalid, a.Partition, e.BaseOffset, e.LastOffset, e.Position, e.Length, next, object)
		}
		next = e.LastOffset + 1
	}
	if a.HW != next {
		return fmt.Errorf("%w: %s: hw %d, the entries end at %d", ErrInvalid, a.Partition, a.HW, next)
	}
	return nil
}
