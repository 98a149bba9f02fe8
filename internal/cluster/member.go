package cluster

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// BrokerInfo is a live broker as registered in brokers/<node-id>.
type BrokerInfo struct {
	NodeID int32
	// Host and Port are the advertised address of the broker's first
	// listener.
	Host string
	Port int32
	// Listeners are the advertised addresses of all its listeners by
	// name, as Kafka registers a broker's endpoints: a client is told the
	// addresses of the listener it came in on. Empty in a registration
	// written before they were (Host and Port are then the only address).
	Listeners []Endpoint
	Rack      string
	Started   time.Time
	// Lease is the etcd lease of the registration: a broker restarted with
	// the same node id registers under a new one.
	Lease int64
}

// Endpoint is a broker's advertised address on one named listener.
type Endpoint struct {
	Name string
	Host string
	Port int32
}

// Endpoint is the broker's advertised address on the listener named
// name: the registered endpoint of that name, the first listener's address
// for a registration without endpoints, or false when the broker has no
// such listener (Kafka leaves such a broker out of what it answers on
// that listener).
func (b BrokerInfo) Endpoint(name string) (host string, port int32, ok bool) {
	if len(b.Listeners) == 0 {
		return b.Host, b.Port, true
	}
	for _, e := range b.Listeners {
		if e.Name == name {
			return e.Host, e.Port, true
		}
	}
	return "", 0, false
}

// Member is this broker's membership: the lease brokers/<node-id> and every
// leaders/ key it holds are put under, the goroutine renewing it, and the
// partitions it leads. Done is closed when the membership ends, by Close
// or because the lease was lost; from then on the broker leads nothing
// (Commit fails with ErrNotLeader, Acquire with ErrLeaseLost) and must
// Register again to come back.
type Member struct {
	c     *Client
	info  BrokerInfo
	lease clientv3.LeaseID

	stop     context.CancelFunc
	loopDone chan struct{}
	done     chan struct{}

	mu      sync.Mutex
	err     error                      // why the membership ended (ErrLeaseLost or nil after Close)
	ended   bool                       // done is closed
	leading map[TopicPartition]holding // partitions led at an epoch
	// acquiring holds a channel per partition an Acquire is running for,
	// closed when it ends: Acquire calls of one partition run one at a
	// time (two would each take the other's fresh key for a stale one).
	acquiring map[TopicPartition]chan struct{}
}

// holding is one partition this member leads: its epoch and the create
// revision of its leaders/ key, the fence of every Commit.
type holding struct {
	epoch int32
	rev   int64
}

// Register puts brokers/<node-id> under a new lease (Config.LeaseTTL) and
// starts renewing it. A node id still held by another live registration
// (a crashed broker's lease not yet expired, or a second broker given the
// same id) fails with ErrNodeIDInUse: Kafka refuses a duplicate broker
// registration the same way; retry after the lease TTL.
func (c *Client) Register(ctx context.Context, b BrokerInfo) (*Member, error) {
	if b.NodeID < 0 {
		return nil, fmt.Errorf("%w: node id %d", ErrInvalid, b.NodeID)
	}
	rctx, cancel := c.reqCtx(ctx)
	defer cancel()
	ttl := int64(c.cfg.LeaseTTL / time.Second)
	// The lease's validity is counted from before the grant was sent: the
	// server's count starts later, so ours ends first.
	granted := c.cfg.Now()
	g, err := c.etcd.Grant(rctx, ttl)
	if err != nil {
		return nil, fmt.Errorf("cluster: granting a %d s lease: %w", ttl, classify(err))
	}
	if b.Started.IsZero() {
		b.Started = granted
	}
	b.Lease = int64(g.ID)
	key := c.k.broker(b.NodeID)
	var eps []endpointValue
	for _, e := range b.Listeners {
		eps = append(eps, endpointValue(e))
	}
	val := encode(brokerValue{V: valueVersion, Node: b.NodeID, Host: b.Host, Port: b.Port, Listeners: eps, Rack: b.Rack, Started: b.Started.UnixMilli(), Lease: b.Lease})
	resp, err := c.etcd.Txn(rctx).
		If(clientv3.Compare(clientv3.CreateRevision(key), "=", 0)).
		Then(clientv3.OpPut(key, val, clientv3.WithLease(g.ID))).
		Commit()
	if err == nil && !resp.Succeeded {
		err = fmt.Errorf("%w: node %d", ErrNodeIDInUse, b.NodeID)
	}
	if err != nil {
		c.revoke(g.ID)
		return nil, fmt.Errorf("cluster: registering node %d: %w", b.NodeID, classify(err))
	}
	lctx, stop := context.WithCancel(context.Background())
	m := &Member{
		c: c, info: b, lease: g.ID,
		stop: stop, loopDone: make(chan struct{}), done: make(chan struct{}),
		leading:   map[TopicPartition]holding{},
		acquiring: map[TopicPartition]chan struct{}{},
	}
	validUntil := granted.Add(time.Duration(g.TTL) * time.Second)
	go m.keepAlive(lctx, validUntil, time.Duration(g.TTL)*time.Second)
	c.log.Info("registered broker", "node", b.NodeID, "host", b.Host, "port", b.Port, "lease", fmt.Sprintf("%x", int64(g.ID)), "ttl_s", g.TTL)
	return m, nil
}

// Info is the registration.
func (m *Member) Info() BrokerInfo { return m.info }

// Done is closed when the membership ends (Close or lease lost).
func (m *Member) Done() <-chan struct{} { return m.done }

// Err is nil while a member, ErrLeaseLost after the lease was lost, and
// nil after Close.
func (m *Member) Err() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.err
}

// keepAlive renews the lease every third of its TTL. Each renewal's
// validity counts from when it was sent; when the lease is not renewed
// before the last validity ends (etcd unreachable past the TTL) or etcd
// says it is gone, the membership is lost: leaderships dropped, Done
// closed, the lease revoked if etcd can still be reached (so its keys
// vanish now rather than at expiry).
func (m *Member) keepAlive(ctx context.Context, validUntil time.Time, ttl time.Duration) {
	defer close(m.loopDone)
	interval := ttl / 3
	t := time.NewTimer(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		sent := m.c.cfg.Now()
		left := validUntil.Sub(sent)
		if left <= 0 {
			m.lose(fmt.Errorf("%w: not renewed within its %v TTL", ErrLeaseLost, ttl))
			return
		}
		rctx, cancel := context.WithTimeout(ctx, min(left, m.c.cfg.RequestTimeout))
		resp, err := m.c.etcd.KeepAliveOnce(rctx, m.lease)
		cancel()
		switch {
		case ctx.Err() != nil:
			return
		case err == nil && resp.TTL > 0:
			validUntil = sent.Add(time.Duration(resp.TTL) * time.Second)
			t.Reset(interval)
		case err == nil || errors.Is(classify(err), ErrLeaseLost):
			m.lose(fmt.Errorf("%w: etcd no longer has lease %x", ErrLeaseLost, int64(m.lease)))
			return
		default:
			// Retry soon, but never past the validity.
			m.c.log.Warn("renewing the broker lease failed", "node", m.info.NodeID, "err", err, "valid_for", validUntil.Sub(m.c.cfg.Now()))
			t.Reset(min(interval, max(validUntil.Sub(m.c.cfg.Now()), 0), time.Second))
		}
	}
}

// lose ends the membership after the lease was lost.
func (m *Member) lose(err error) {
	m.c.log.Error("broker lease lost: no longer a member, leading nothing", "node", m.info.NodeID, "err", err)
	m.end(err)
	// The keys under the lease are gone once etcd expires it; revoking
	// makes that immediate when etcd is reachable (after an etcd restart
	// the server would otherwise keep the lease for another TTL).
	m.c.revoke(m.lease)
}

// end records why the membership ended and closes Done once.
func (m *Member) end(err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.ended {
		return
	}
	m.ended, m.err = true, err
	clear(m.leading)
	close(m.done)
}

// Close deregisters: stops renewing and revokes the lease, which deletes
// brokers/<node-id> and the leaders/ keys of every partition this broker
// leads at once, so others can acquire them without waiting for the TTL.
func (m *Member) Close() error {
	m.stop()
	<-m.loopDone
	m.mu.Lock()
	wasLost := m.ended
	m.mu.Unlock()
	m.end(nil)
	if wasLost {
		return nil
	}
	ctx, cancel := m.c.reqCtx(context.Background())
	defer cancel()
	if _, err := m.c.etcd.Revoke(ctx, m.lease); err != nil && !errors.Is(classify(err), ErrLeaseLost) {
		return fmt.Errorf("cluster: deregistering node %d: %w", m.info.NodeID, classify(err))
	}
	m.c.log.Info("deregistered broker", "node", m.info.NodeID)
	return nil
}

// revoke revokes a lease, best effort (it expires by itself otherwise).
func (c *Client) revoke(id clientv3.LeaseID) {
	ctx, cancel := c.reqCtx(context.Background())
	defer cancel()
	if _, err := c.etcd.Revoke(ctx, id); err != nil && !errors.Is(classify(err), ErrLeaseLost) {
		c.log.Warn("revoking a lease failed; it expires by itself", "lease", fmt.Sprintf("%x", int64(id)), "err", err)
	}
}

// held returns the holding of tp at epoch, or false.
func (m *Member) held(tp TopicPartition, epoch int32) (holding, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	h, ok := m.leading[tp]
	return h, ok && h.epoch == epoch
}

// Leading lists the partitions this member leads and their epochs.
func (m *Member) Leading() map[TopicPartition]int32 {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make(map[TopicPartition]int32, len(m.leading))
	for tp, h := range m.leading {
		out[tp] = h.epoch
	}
	return out
}
