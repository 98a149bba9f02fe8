package cluster

import (
	"context"
	"fmt"
	"strings"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"
)

func decodeIndex(key string, kv *mvccpb.KeyValue, base int64) (IndexEntry, error) {
	var v indexValue
	if err := decode(key, kv.Value, &v); err != nil {
		return IndexEntry{}, err
	}
	return IndexEntry{BaseOffset: base, LastOffset: v.LastOffset, Object: v.Object, Position: v.Position, Length: v.Length,
		MaxTimestamp: v.MaxTimestamp, LeaderEpoch: v.LeaderEpoch, RecordCount: v.Records, CRC: v.CRC}, nil
}

// LoadIndex reads the partition's index entries in offset order, in pages
// of 1,000 keys at one etcd revision (a consistent snapshot however large
// the index). A leader loads it once after Acquire and keeps it in memory.
func (c *Client) LoadIndex(ctx context.Context, tp TopicPartition) ([]IndexEntry, error) {
	var out []IndexEntry
	prefix := c.k.indexAll()
	_, err := c.scan(ctx, c.k.index(tp), 0, func(kvs []*mvccpb.KeyValue) error {
		for _, kv := range kvs {
			key := string(kv.Key)
			_, base, err := parseIndexKey(strings.TrimPrefix(key, prefix))
			if err != nil {
				return err
			}
			e, err := decodeIndex(key, kv, base)
			if err != nil {
				return err
			}
			out = append(out, e)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("cluster: loading the index of %s: %w", tp, err)
	}
	return out, nil
}

// IndexEntryAt reads the partition's index entry starting at base; ok is
// false if there is none. A leader resolving a commit of unknown outcome
// compares its object with the one it tried to commit.
func (c *Client) IndexEntryAt(ctx context.Context, tp TopicPartition, base int64) (e IndexEntry, ok bool, err error) {
	rctx, cancel := c.reqCtx(ctx)
	defer cancel()
	key := c.k.indexEntry(tp, base)
	resp, err := c.etcd.Get(rctx, key)
	if err != nil {
		return IndexEntry{}, false, fmt.Errorf("cluster: reading %s: %w", key, classify(err))
	}
	if len(resp.Kvs) == 0 {
		return IndexEntry{}, false, nil
	}
	e, err = decodeIndex(key, resp.Kvs[0], base)
	return e, err == nil, err
}

// ScanIndex calls fn with every index entry of every partition, partition
// by partition in key order, at one etcd revision, which it returns (the
// object garbage collector compares it with Objects).
func (c *Client) ScanIndex(ctx context.Context, fn func(TopicPartition, IndexEntry) error) (int64, error) {
	prefix := c.k.indexAll()
	return c.scan(ctx, prefix, 0, func(kvs []*mvccpb.KeyValue) error {
		for _, kv := range kvs {
			key := string(kv.Key)
			tp, base, err := parseIndexKey(strings.TrimPrefix(key, prefix))
			if err != nil {
				return err
			}
			e, err := decodeIndex(key, kv, base)
			if err != nil {
				return err
			}
			if err := fn(tp, e); err != nil {
				return err
			}
		}
		return nil
	})
}

// readOffset reads an offsetValue key; missing is 0.
func (c *Client) readOffset(ctx context.Context, key string) (int64, error) {
	rctx, cancel := c.reqCtx(ctx)
	defer cancel()
	resp, err := c.etcd.Get(rctx, key)
	if err != nil {
		return 0, fmt.Errorf("cluster: reading %s: %w", key, classify(err))
	}
	if len(resp.Kvs) == 0 {
		return 0, nil
	}
	var v offsetValue
	if err := decode(key, resp.Kvs[0].Value, &v); err != nil {
		return 0, err
	}
	return v.Offset, nil
}

// HW is the partition's high watermark in etcd (the next offset; every
// record below it is durable), 0 for a partition never led.
func (c *Client) HW(ctx context.Context, tp TopicPartition) (int64, error) {
	return c.readOffset(ctx, c.k.hw(tp))
}

// LogStartOffset is the partition's log start offset in etcd (moved by
// DeleteIndexBelow), 0 if never moved.
func (c *Client) LogStartOffset(ctx context.Context, tp TopicPartition) (int64, error) {
	return c.readOffset(ctx, c.k.logStart(tp))
}

// DeleteIndexBelow moves the partition's log start offset to offset
// (retention, DeleteRecords) and deletes the index entries wholly below
// it, in one txn fenced by this member's leadership at epoch. An entry
// straddling offset stays (its object still holds records at or above
// it). offset must not pass the hw (ErrInvalid: Kafka's
// OFFSET_OUT_OF_RANGE); an offset at or below the current log start
// changes nothing. It returns how many entries it deleted; the objects they
// referenced are left to the garbage collector (Objects, ScanIndex).
// Concurrent calls are safe: a log start moved meanwhile by this same
// leadership is read again; only a leaders/ key of another acquisition
// (or none) ends the leadership here (*NotLeaderError).
func (m *Member) DeleteIndexBelow(ctx context.Context, tp TopicPartition, epoch int32, offset int64) (int, error) {
	h, ok := m.held(tp, epoch)
	if !ok {
		return 0, &NotLeaderError{Partitions: []TopicPartition{tp}}
	}
	c := m.c
	lk, hk, sk := c.k.leader(tp), c.k.hw(tp), c.k.logStart(tp)
	rctx, cancel := c.reqCtx(ctx)
	defer cancel()
	// Another call of this leader moving the log start between the read
	// and the txn fails the log start compare: read again, a few times.
	for range 5 {
		read, err := c.etcd.Txn(rctx).Then(
			clientv3.OpGet(hk), clientv3.OpGet(sk),
			// The last entry starting below offset: it may straddle it.
			clientv3.OpGet(c.k.index(tp), clientv3.WithRange(c.k.indexEntry(tp, offset)),
				clientv3.WithSort(clientv3.SortByKey, clientv3.SortDescend), clientv3.WithLimit(1)),
		).Commit()
		if err != nil {
			return 0, fmt.Errorf("cluster: deleting the index of %s below %d: %w", tp, offset, classify(err))
		}
		get := func(i int) *clientv3.GetResponse {
			return (*clientv3.GetResponse)(read.Responses[i].GetResponseRange())
		}
		hw, start, err := decodeHWStart(hk, get(0), sk, get(1))
		if err != nil {
			return 0, err
		}
		if offset > hw || offset < 0 {
			return 0, fmt.Errorf("%w: %s: new log start %d outside [0, hw %d]", ErrInvalid, tp, offset, hw)
		}
		if offset <= start {
			return 0, nil
		}
		end := c.k.indexEntry(tp, offset)
		if last := get(2); len(last.Kvs) > 0 {
			key := string(last.Kvs[0].Key)
			_, base, err := parseIndexKey(strings.TrimPrefix(key, c.k.indexAll()))
			if err != nil {
				return 0, err
			}
			e, err := decodeIndex(key, last.Kvs[0], base)
			if err != nil {
				return 0, err
			}
			if e.LastOffset >= offset {
				end = key
			}
		}
		srev := int64(0)
		if s := get(1); len(s.Kvs) > 0 {
			srev = s.Kvs[0].ModRevision
		}
		resp, err := c.etcd.Txn(rctx).If(
			clientv3.Compare(clientv3.CreateRevision(lk), "=", h.rev),
			clientv3.Compare(clientv3.ModRevision(sk), "=", srev),
			// No entry below offset changed since the read: a merge
			// (ReplaceIndex) applied meanwhile, even one whose caller
			// gave up on it, may have put an entry reaching past offset
			// at a key this delete would remove.
			clientv3.Compare(clientv3.ModRevision(c.k.index(tp)), "<", read.Header.Revision+1).WithRange(c.k.indexEntry(tp, offset)),
		).Then(
			clientv3.OpDelete(c.k.index(tp), clientv3.WithRange(end)),
			clientv3.OpPut(sk, encodeOffset(offset)),
		).Else(
			clientv3.OpGet(lk, clientv3.WithKeysOnly()),
		).Commit()
		if err != nil {
			return 0, fmt.Errorf("cluster: deleting the index of %s below %d: %w", tp, offset, classify(err))
		}
		if resp.Succeeded {
			n := int(resp.Responses[0].GetResponseDeleteRange().Deleted)
			c.log.Info("moved log start offset", "partition", tp.String(), "log_start", offset, "index_entries_deleted", n)
			return n, nil
		}
		if l := resp.Responses[0].GetResponseRange(); len(l.Kvs) == 0 || l.Kvs[0].CreateRevision != h.rev {
			// Another broker's leadership (or none): this one is over.
			m.mu.Lock()
			if cur, ok := m.leading[tp]; ok && cur.rev == h.rev {
				delete(m.leading, tp)
			}
			m.mu.Unlock()
			return 0, &NotLeaderError{Partitions: []TopicPartition{tp}}
		}
		// Still the leader: another call of this leader moved the log
		// start, or a merge replaced entries, meanwhile.
	}
	return 0, fmt.Errorf("%w: deleting the index of %s below %d: log start contended", ErrUnavailable, tp, offset)
}

// ObjectRecord is an objects/<name> record.
type ObjectRecord struct {
	Name       string
	Size       int64
	Created    time.Time
	Partitions []TopicPartition // partitions the object held batches of when written
}

// Objects calls fn with every object record, in name order, at one etcd
// revision, which it returns.
func (c *Client) Objects(ctx context.Context, fn func(ObjectRecord) error) (int64, error) {
	prefix := c.k.objects()
	return c.scan(ctx, prefix, 0, func(kvs []*mvccpb.KeyValue) error {
		for _, kv := range kvs {
			var v objectValue
			if err := decode(string(kv.Key), kv.Value, &v); err != nil {
				return err
			}
			r := ObjectRecord{Name: strings.TrimPrefix(string(kv.Key), prefix), Size: v.Size, Created: time.UnixMilli(v.Created)}
			for _, s := range v.Partitions {
				tp, err := parseTP(s)
				if err != nil {
					return err
				}
				r.Partitions = append(r.Partitions, tp)
			}
			if err := fn(r); err != nil {
				return err
			}
		}
		return nil
	})
}

// DeleteObject deletes an object's record, after the garbage collector
// deleted the object (no index entry referenced it: ScanIndex). It
// reports whether the record existed.
func (c *Client) DeleteObject(ctx context.Context, name string) (bool, error) {
	rctx, cancel := c.reqCtx(ctx)
	defer cancel()
	resp, err := c.etcd.Delete(rctx, c.k.object(name))
	if err != nil {
		return false, fmt.Errorf("cluster: deleting the record of object %s: %w", name, classify(err))
	}
	return resp.Deleted > 0, nil
}
