package cluster

import (
	"context"
	"fmt"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// LeaderInfo is a partition's leader as in leaders/<topic-id>/<partition>.
type LeaderInfo struct {
	NodeID int32
	// Epoch is Kafka's leader epoch: 0 for a partition's first leader, one
	// more at each acquisition (epochs/ keeps the last one when the
	// leader's key expires with its lease).
	Epoch int32
}

// Leadership is what Acquire returns: the new epoch and where the
// partition stands in etcd at the acquisition.
type Leadership struct {
	Epoch int32
	// HW is the partition's high watermark (next offset); the new leader
	// assigns offsets from here.
	HW int64
	// LogStart is the partition's log start offset (0 until retention or
	// DeleteRecords moves it).
	LogStart int64
}

// LeaderExistsError is the *ErrLeaderExists error of Acquire.
type LeaderExistsError struct {
	Partition TopicPartition
	Leader    LeaderInfo
}

func (e *LeaderExistsError) Error() string {
	return fmt.Sprintf("cluster: partition %s is led by node %d at epoch %d", e.Partition, e.Leader.NodeID, e.Leader.Epoch)
}

// Is makes errors.Is(err, ErrLeaderExists) true.
func (e *LeaderExistsError) Is(target error) bool { return target == ErrLeaderExists }

// Acquire makes this broker the partition's leader if it has none: one
// etcd txn If(leaders/<tp> does not exist, epochs/<tp> and hw/<tp>
// unchanged since read) Then(put leaders/<tp> {node, epoch+1} under this
// member's lease, put epochs/<tp> epoch+1, put hw/<tp> 0 if missing). A
// partition with a live leader fails with *LeaderExistsError. Acquiring a
// partition this member already leads returns its current leadership
// (concurrent calls for one partition run one at a time). The
// caller then loads the index (LoadIndex) and continues at HW.
func (m *Member) Acquire(ctx context.Context, tp TopicPartition) (Leadership, error) {
	if err := m.alive(); err != nil {
		return Leadership{}, err
	}
	c := m.c
	lk, ek, hk, sk := c.k.leader(tp), c.k.epoch(tp), c.k.hw(tp), c.k.logStart(tp)
	rctx, cancel := c.reqCtx(ctx)
	defer cancel()
	unlock, err := m.lockAcquire(rctx, tp)
	if err != nil {
		return Leadership{}, err
	}
	defer unlock()
	// Another broker's acquisition between the read and the txn changes a
	// compared revision: read again, a few times.
	for range 5 {
		read, err := c.etcd.Txn(rctx).Then(clientv3.OpGet(lk), clientv3.OpGet(ek), clientv3.OpGet(hk), clientv3.OpGet(sk)).Commit()
		if err != nil {
			return Leadership{}, fmt.Errorf("cluster: acquiring %s: %w", tp, classify(err))
		}
		kv := func(i int) *clientv3.GetResponse {
			return (*clientv3.GetResponse)(read.Responses[i].GetResponseRange())
		}
		if l := kv(0); len(l.Kvs) > 0 {
			var lv leaderValue
			if err := decode(lk, l.Kvs[0].Value, &lv); err != nil {
				return Leadership{}, err
			}
			if clientv3.LeaseID(l.Kvs[0].Lease) == m.lease {
				if h, ok := m.heldAny(tp); ok && h.rev == l.Kvs[0].CreateRevision {
					hw, start, err := decodeHWStart(hk, kv(2), sk, kv(3))
					return Leadership{Epoch: h.epoch, HW: hw, LogStart: start}, err
				}
				// Our own key of a leadership we no longer hold (a Resign
				// or a fenced Commit whose delete did not reach etcd):
				// delete it and acquire at the next epoch.
				if _, err := c.etcd.Txn(rctx).
					If(clientv3.Compare(clientv3.CreateRevision(lk), "=", l.Kvs[0].CreateRevision)).
					Then(clientv3.OpDelete(lk)).Commit(); err != nil {
					return Leadership{}, fmt.Errorf("cluster: acquiring %s: %w", tp, classify(err))
				}
				continue
			}
			return Leadership{}, &LeaderExistsError{Partition: tp, Leader: LeaderInfo{NodeID: lv.Node, Epoch: lv.Epoch}}
		}
		epoch, erev := int32(0), int64(0)
		if e := kv(1); len(e.Kvs) > 0 {
			var ev epochValue
			if err := decode(ek, e.Kvs[0].Value, &ev); err != nil {
				return Leadership{}, err
			}
			epoch, erev = ev.Epoch+1, e.Kvs[0].ModRevision
		}
		hw, start, err := decodeHWStart(hk, kv(2), sk, kv(3))
		if err != nil {
			return Leadership{}, err
		}
		hrev := int64(0)
		if h := kv(2); len(h.Kvs) > 0 {
			hrev = h.Kvs[0].ModRevision
		}
		then := []clientv3.Op{
			clientv3.OpPut(lk, encode(leaderValue{V: valueVersion, Node: m.info.NodeID, Epoch: epoch}), clientv3.WithLease(m.lease)),
			clientv3.OpPut(ek, encode(epochValue{V: valueVersion, Epoch: epoch})),
		}
		if hrev == 0 {
			then = append(then, clientv3.OpPut(hk, encodeOffset(0)))
		}
		resp, err := c.etcd.Txn(rctx).If(
			clientv3.Compare(clientv3.CreateRevision(lk), "=", 0),
			clientv3.Compare(clientv3.ModRevision(ek), "=", erev),
			clientv3.Compare(clientv3.ModRevision(hk), "=", hrev),
		).Then(then...).Commit()
		if err != nil {
			return Leadership{}, fmt.Errorf("cluster: acquiring %s: %w", tp, classify(err))
		}
		if !resp.Succeeded {
			continue
		}
		// The leaders key was created by this txn: its create revision is
		// the txn's revision.
		m.mu.Lock()
		if m.ended {
			m.mu.Unlock()
			// The lease is gone or going; the key goes with it.
			return Leadership{}, m.alive()
		}
		m.leading[tp] = holding{epoch: epoch, rev: resp.Header.Revision}
		m.mu.Unlock()
		c.log.Info("acquired partition leadership", "partition", tp.String(), "node", m.info.NodeID, "epoch", epoch, "hw", hw)
		return Leadership{Epoch: epoch, HW: hw, LogStart: start}, nil
	}
	return Leadership{}, fmt.Errorf("%w: acquiring %s: contended", ErrUnavailable, tp)
}

func decodeHWStart(hk string, h *clientv3.GetResponse, sk string, s *clientv3.GetResponse) (hw, start int64, err error) {
	if len(h.Kvs) > 0 {
		var v offsetValue
		if err := decode(hk, h.Kvs[0].Value, &v); err != nil {
			return 0, 0, err
		}
		hw = v.Offset
	}
	if len(s.Kvs) > 0 {
		var v offsetValue
		if err := decode(sk, s.Kvs[0].Value, &v); err != nil {
			return 0, 0, err
		}
		start = v.Offset
	}
	return hw, start, nil
}

// lockAcquire waits until no other Acquire of tp runs on this member and
// makes the caller's the one; unlock ends it.
func (m *Member) lockAcquire(ctx context.Context, tp TopicPartition) (unlock func(), err error) {
	for {
		m.mu.Lock()
		busy, ok := m.acquiring[tp]
		if !ok {
			mine := make(chan struct{})
			m.acquiring[tp] = mine
			m.mu.Unlock()
			return func() {
				m.mu.Lock()
				delete(m.acquiring, tp)
				m.mu.Unlock()
				close(mine)
			}, nil
		}
		m.mu.Unlock()
		select {
		case <-busy:
		case <-ctx.Done():
			return nil, fmt.Errorf("cluster: acquiring %s: waiting for another Acquire of it: %w", tp, classify(ctx.Err()))
		}
	}
}

// alive is nil while the membership lasts.
func (m *Member) alive() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.ended {
		return nil
	}
	if m.err != nil {
		return m.err
	}
	return fmt.Errorf("%w: member closed", ErrLeaseLost)
}

func (m *Member) heldAny(tp TopicPartition) (holding, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	h, ok := m.leading[tp]
	return h, ok
}

// Resign gives up the partition's leadership: its leaders/ key is deleted
// if it is still this acquisition's, and Commit for it fails from now on.
func (m *Member) Resign(ctx context.Context, tp TopicPartition) error {
	m.mu.Lock()
	h, ok := m.leading[tp]
	delete(m.leading, tp)
	m.mu.Unlock()
	if !ok {
		return nil
	}
	rctx, cancel := m.c.reqCtx(ctx)
	defer cancel()
	lk := m.c.k.leader(tp)
	if _, err := m.c.etcd.Txn(rctx).
		If(clientv3.Compare(clientv3.CreateRevision(lk), "=", h.rev)).
		Then(clientv3.OpDelete(lk)).Commit(); err != nil {
		// The key stays until the lease ends; nobody can acquire before.
		return fmt.Errorf("cluster: resigning %s: %w", tp, classify(err))
	}
	m.c.log.Info("resigned partition leadership", "partition", tp.String(), "node", m.info.NodeID, "epoch", h.epoch)
	return nil
}

// Leader looks the partition's leader up; ok is false when it has none.
func (c *Client) Leader(ctx context.Context, tp TopicPartition) (l LeaderInfo, ok bool, err error) {
	rctx, cancel := c.reqCtx(ctx)
	defer cancel()
	lk := c.k.leader(tp)
	resp, err := c.etcd.Get(rctx, lk)
	if err != nil {
		return LeaderInfo{}, false, fmt.Errorf("cluster: looking up the leader of %s: %w", tp, classify(err))
	}
	if len(resp.Kvs) == 0 {
		return LeaderInfo{}, false, nil
	}
	var v leaderValue
	if err := decode(lk, resp.Kvs[0].Value, &v); err != nil {
		return LeaderInfo{}, false, err
	}
	return LeaderInfo{NodeID: v.Node, Epoch: v.Epoch}, true, nil
}

// Epoch is the partition's last leader epoch (epochs/), -1 if it never had
// a leader.
func (c *Client) Epoch(ctx context.Context, tp TopicPartition) (int32, error) {
	rctx, cancel := c.reqCtx(ctx)
	defer cancel()
	ek := c.k.epoch(tp)
	resp, err := c.etcd.Get(rctx, ek)
	if err != nil {
		return 0, fmt.Errorf("cluster: reading the epoch of %s: %w", tp, classify(err))
	}
	if len(resp.Kvs) == 0 {
		return -1, nil
	}
	var v epochValue
	if err := decode(ek, resp.Kvs[0].Value, &v); err != nil {
		return 0, err
	}
	return v.Epoch, nil
}
