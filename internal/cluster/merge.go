package cluster

import (
	"context"
	"errors"
	"fmt"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// ErrIndexChanged: ReplaceIndex found one of the entries it replaces
// changed or gone (retention or DeleteRecords moved the log start
// meanwhile). Nothing was applied; the caller reloads its index before it
// tries again.
var ErrIndexChanged = errors.New("cluster: index entries changed")

// ReplaceIndex swaps a run of a partition's consecutive index entries for
// one entry covering the same offsets in a new object (merging small
// objects), as ONE etcd transaction fenced by this member's leadership:
//
//	If(   leaders/<tp> has this acquisition's create revision; every old
//	      entry's index key holds exactly that entry; objects/<name> does
//	      not exist)
//	Then( delete the old entries' keys but the first; put the new entry
//	      at the first's key (the same base offset); put objects/<name>)
//	Else( read leaders/<tp>)
//
// The new entry must start at the first old entry's base offset and end
// at the last's last offset. The objects only the old entries named are
// left to the garbage collector. A failed compare is *NotLeaderError when
// the leadership is gone, else ErrIndexChanged; ErrUnavailable leaves the
// outcome unknown (the caller reloads the index from etcd to learn it).
func (m *Member) ReplaceIndex(ctx context.Context, tp TopicPartition, epoch int32, old []IndexEntry, repl IndexEntry, obj ObjectMeta) error {
	if len(old) < 2 {
		return fmt.Errorf("%w: %s: replacing %d index entries (at least 2)", ErrInvalid, tp, len(old))
	}
	if repl.BaseOffset != old[0].BaseOffset || repl.LastOffset != old[len(old)-1].LastOffset || repl.Object != obj.Name || repl.Length <= 0 {
		return fmt.Errorf("%w: %s: entry [%d, %d] in %s does not cover [%d, %d]", ErrInvalid, tp, repl.BaseOffset, repl.LastOffset, repl.Object, old[0].BaseOffset, old[len(old)-1].LastOffset)
	}
	for i := 1; i < len(old); i++ {
		if old[i].BaseOffset != old[i-1].LastOffset+1 {
			return fmt.Errorf("%w: %s: entries [%d, %d] and [%d, %d] are not consecutive", ErrInvalid, tp, old[i-1].BaseOffset, old[i-1].LastOffset, old[i].BaseOffset, old[i].LastOffset)
		}
	}
	return m.swapIndex(ctx, tp, epoch, "replacing", old, obj, func(i int, key string) []clientv3.Op {
		if i > 0 {
			return []clientv3.Op{clientv3.OpDelete(key)}
		}
		return nil
	}, clientv3.OpPut(m.c.k.indexEntry(tp, repl.BaseOffset), encodeIndexValue(repl)))
}

// MaxReplaceEntries is how many index entries one ReplaceIndex may
// replace under etcd's --max-txn-ops (its compares: one per entry, plus
// two).
func (c *Client) MaxReplaceEntries() int { return max(c.cfg.MaxTxnOps-2, 0) }

// encodeIndexValue is an entry's index/ value, as Commit writes it.
func encodeIndexValue(e IndexEntry) string {
	return encode(indexValue{V: valueVersion, Object: e.Object, Position: e.Position, Length: e.Length, LastOffset: e.LastOffset,
		MaxTimestamp: e.MaxTimestamp, LeaderEpoch: e.LeaderEpoch, Records: e.RecordCount, CRC: e.CRC})
}

// RewriteIndex swaps index entries of a partition, each for a new entry
// covering exactly its offsets (the same base and last offset: the index
// key stays) in the new object obj (compacting), as ONE etcd transaction
// fenced by this member's leadership, as ReplaceIndex:
//
//	If(   leaders/<tp> has this acquisition's create revision; every old
//	      entry's index key holds exactly that entry; objects/<name> does
//	      not exist)
//	Then( put each new entry at its old entry's key; put objects/<name>)
//	Else( read leaders/<tp>)
//
// The old entries need not be consecutive. Errors as ReplaceIndex's; at
// most MaxReplaceEntries entries per call.
func (m *Member) RewriteIndex(ctx context.Context, tp TopicPartition, epoch int32, old, repl []IndexEntry, obj ObjectMeta) error {
	if len(old) == 0 || len(old) != len(repl) {
		return fmt.Errorf("%w: %s: rewriting %d index entries with %d", ErrInvalid, tp, len(old), len(repl))
	}
	for i, e := range old {
		r := repl[i]
		if r.BaseOffset != e.BaseOffset || r.LastOffset != e.LastOffset || r.Object != obj.Name || r.Length <= 0 {
			return fmt.Errorf("%w: %s: entry [%d, %d] in %s does not replace [%d, %d]", ErrInvalid, tp, r.BaseOffset, r.LastOffset, r.Object, e.BaseOffset, e.LastOffset)
		}
		if i > 0 && e.BaseOffset <= old[i-1].LastOffset {
			return fmt.Errorf("%w: %s: entries [%d, %d] and [%d, %d] out of order", ErrInvalid, tp, old[i-1].BaseOffset, old[i-1].LastOffset, e.BaseOffset, e.LastOffset)
		}
	}
	return m.swapIndex(ctx, tp, epoch, "rewriting", old, obj, func(i int, key string) []clientv3.Op {
		return []clientv3.Op{clientv3.OpPut(key, encodeIndexValue(repl[i]))}
	})
}

// swapIndex is one fenced index swap of ReplaceIndex and RewriteIndex:
// if this member's acquisition of tp holds, every old entry's key holds
// exactly that entry and obj's record does not exist, then entryOps of
// each old entry (by index and key), extra, and obj's record. what names
// the swap in errors.
func (m *Member) swapIndex(ctx context.Context, tp TopicPartition, epoch int32, what string, old []IndexEntry, obj ObjectMeta,
	entryOps func(i int, key string) []clientv3.Op, extra ...clientv3.Op) error {
	h, ok := m.held(tp, epoch)
	if !ok {
		return &NotLeaderError{Partitions: []TopicPartition{tp}}
	}
	c := m.c
	lk, objKey := c.k.leader(tp), c.k.object(obj.Name)
	cmps := []clientv3.Cmp{
		clientv3.Compare(clientv3.CreateRevision(lk), "=", h.rev),
		clientv3.Compare(clientv3.CreateRevision(objKey), "=", 0),
	}
	ops := make([]clientv3.Op, 0, len(old)+len(extra)+1)
	for i, e := range old {
		k := c.k.indexEntry(tp, e.BaseOffset)
		cmps = append(cmps, clientv3.Compare(clientv3.Value(k), "=", encodeIndexValue(e)))
		ops = append(ops, entryOps(i, k)...)
	}
	ops = append(ops, extra...)
	ops = append(ops, clientv3.OpPut(objKey, encode(objectValue{V: valueVersion, Size: obj.Size, Created: obj.Created.UnixMilli(), Partitions: []string{tp.String()}})))
	if n := max(len(cmps), len(ops)); n > c.cfg.MaxTxnOps {
		return fmt.Errorf("%w: %s %d index entries needs %d operations, etcd's --max-txn-ops (Config.MaxTxnOps) is %d", ErrTxnTooLarge, what, len(old), n, c.cfg.MaxTxnOps)
	}
	rctx, cancel := c.reqCtx(ctx)
	defer cancel()
	resp, err := c.etcd.Txn(rctx).If(cmps...).Then(ops...).Else(clientv3.OpGet(lk, clientv3.WithKeysOnly())).Commit()
	if err != nil {
		return fmt.Errorf("cluster: %s %d index entries of %s: %w", what, len(old), tp, classify(err))
	}
	if resp.Succeeded {
		return nil
	}
	if lr := resp.Responses[0].GetResponseRange(); len(lr.Kvs) == 0 || lr.Kvs[0].CreateRevision != h.rev {
		m.mu.Lock()
		if cur, ok := m.leading[tp]; ok && cur.rev == h.rev {
			delete(m.leading, tp)
		}
		m.mu.Unlock()
		return &NotLeaderError{Partitions: []TopicPartition{tp}}
	}
	return fmt.Errorf("%w: %s [%d, %d]", ErrIndexChanged, tp, old[0].BaseOffset, old[len(old)-1].LastOffset)
}
