package broker

// Cluster mode's node (DESIGN.md, "Cluster mode"): this broker's
// membership in etcd, its copy of the cluster's topics, live brokers and
// partition leaders (three etcd watches), and the partitions it leads on
// internal/objlog.
//
// Ownership: a partition belongs to the live broker with the highest
// rendezvous hash of (topic id, partition, node id) (owner). The owner
// acquires the leadership (objlog Flusher.Acquire: a new epoch in etcd,
// the index loaded); a broker that leads a partition it no longer owns
// (a broker joined, a topic was deleted) resigns it, so the owner can
// acquire it. A dead broker's leaderships end with its lease; the
// remaining brokers' ownership moves with the live set. The reconcile
// loop runs after every watch change, and every second while something is
// left to do (an acquisition that found the previous leader still there).
// On lease loss the node drops its partitions and registers again.
// The partitions of __consumer_offsets it leads each run a group
// coordinator, made and closed with the leadership (clustergroups.go).

import (
	"cmp"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluice-io/sluice/internal/cluster"
	"github.com/sluice-io/sluice/internal/group"
	"github.com/sluice-io/sluice/internal/objlog"
	"github.com/sluice-io/sluice/internal/objstore"
	"github.com/sluice-io/sluice/internal/txn"
)

// clusterNode is the broker's cluster-mode state; nil in single-node mode.
type clusterNode struct {
	b      *Broker
	cfg    ClusterConfig
	log    *slog.Logger
	client *cluster.Client
	store  objstore.Store
	cache  objstore.RangeReader
	self   cluster.BrokerInfo
	// pids hands out producer ids from blocks taken from etcd.
	pids clusterPIDs

	ctx    context.Context
	cancel context.CancelFunc
	kick   chan struct{}
	// synced is closed once the brokers, topics and leaders watches have
	// each delivered their first snapshot; Serve accepts connections only
	// then. Before it this broker would answer Metadata with itself as
	// the only broker and no topics, and a client that believed it would
	// drop the other brokers: kgo then fails a transactional producer
	// fatally with "unknown broker" when FindCoordinator names one of them.
	synced   chan struct{}
	unsynced atomic.Int32

	mu      sync.Mutex
	member  *cluster.Member
	flusher *objlog.Flusher
	parts   map[cluster.TopicPartition]*objlog.Partition
	topics  map[string]cluster.TopicInfo
	byID    map[[16]byte]cluster.TopicInfo
	live    []cluster.BrokerInfo
	leaders map[cluster.TopicPartition]cluster.LeaderInfo
	// topicsSeen: the topics watch delivered its first snapshot (before
	// it, a missing __consumer_offsets is not known to be missing).
	topicsSeen bool
	// shards are the group coordinators of the __consumer_offsets
	// partitions this broker leads (clustergroups.go), made and removed
	// with their parts entries.
	shards map[cluster.TopicPartition]*groupShard
	// txnShards are the transaction coordinators of the
	// __transaction_state partitions this broker leads (clustertxns.go),
	// made and removed with their parts entries.
	txnShards map[cluster.TopicPartition]*txnShard
	// loaders are the shards' load goroutines, started by reconcile and
	// waited for when run ends.
	loaders sync.WaitGroup

	// peers is the client to the other brokers (transaction markers),
	// made on first use (peerClient) and closed when run ends.
	peerMu sync.Mutex
	peers  *kgo.Client
}

// openCluster connects to etcd and opens the object store. Nothing runs
// until run.
func (b *Broker) openCluster() error {
	cc := b.cfg.Cluster
	ccfg := cluster.Config{Endpoints: cc.Etcd, ClusterID: cc.ID, Username: cc.EtcdUser, Password: cc.EtcdPassword,
		LeaseTTL: cc.LeaseTTL, Logger: b.logger}
	if cc.EtcdCAFile != "" || cc.EtcdCertFile != "" {
		t, err := etcdTLS(cc)
		if err != nil {
			return err
		}
		ccfg.TLS = t
	}
	client, err := cluster.Open(ccfg)
	if err != nil {
		return fmt.Errorf("cluster mode: %w", err)
	}
	var om *objstore.Metrics // object-store requests, bytes, latency, errors and the cache on /metrics
	if b.metrics != nil {
		var err error
		if om, err = objstore.NewMetrics(b.metrics.Registry()); err != nil {
			client.Close()
			return fmt.Errorf("cluster mode: %w", err)
		}
	}
	store, err := objstore.OpenS3(context.Background(), cc.ObjectStore, objstore.S3Options{Logger: b.logger, Metrics: om})
	if err != nil {
		client.Close()
		return fmt.Errorf("cluster mode: %w", err)
	}
	var reader objstore.RangeReader = store
	if cc.CacheMemoryBytes > 0 || cc.CacheDiskBytes > 0 {
		opts := objstore.CacheOptions{MemoryBytes: max(cc.CacheMemoryBytes, 0), Logger: b.logger, Metrics: om}
		if cc.CacheDiskBytes > 0 {
			opts.Dir, opts.DiskBytes = filepath.Join(b.cfg.DataDir, "object-cache"), cc.CacheDiskBytes
		}
		cache, err := objstore.NewCache(store, opts)
		if err != nil {
			client.Close()
			return fmt.Errorf("cluster mode: %w", err)
		}
		reader = cache
	}
	adv := b.lns[0].advertise
	var eps []cluster.Endpoint
	for _, l := range b.lns {
		eps = append(eps, cluster.Endpoint{Name: l.Name, Host: l.advertise.host, Port: l.advertise.port})
	}
	ctx, cancel := context.WithCancel(context.Background())
	b.cl = &clusterNode{
		b: b, cfg: cc, log: b.logger.With("component", "cluster-node"), client: client, store: store, cache: reader,
		self: cluster.BrokerInfo{NodeID: b.cfg.NodeID, Host: adv.host, Port: adv.port, Listeners: eps},
		ctx:  ctx, cancel: cancel, kick: make(chan struct{}, 1),
		synced:  make(chan struct{}),
		parts:   map[cluster.TopicPartition]*objlog.Partition{},
		topics:  map[string]cluster.TopicInfo{},
		byID:    map[[16]byte]cluster.TopicInfo{},
		leaders: map[cluster.TopicPartition]cluster.LeaderInfo{},
		shards:  map[cluster.TopicPartition]*groupShard{},

		txnShards: map[cluster.TopicPartition]*txnShard{},
	}
	if err := b.loadShared(); err != nil { // clustershared.go
		cancel()
		client.Close()
		b.cl = nil
		return err
	}
	return nil
}

// etcdTLS is the TLS configuration of the etcd client.
func etcdTLS(cc ClusterConfig) (*tls.Config, error) {
	t := &tls.Config{MinVersion: tls.VersionTLS12}
	if cc.EtcdCAFile != "" {
		pem, err := os.ReadFile(cc.EtcdCAFile)
		if err != nil {
			return nil, fmt.Errorf("%w: --etcd-ca: %w", ErrInvalidConfig, err)
		}
		t.RootCAs = x509.NewCertPool()
		if !t.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("%w: --etcd-ca %s: no PEM certificates", ErrInvalidConfig, cc.EtcdCAFile)
		}
	}
	if cc.EtcdCertFile != "" {
		cert, err := tls.LoadX509KeyPair(cc.EtcdCertFile, cc.EtcdKeyFile)
		if err != nil {
			return nil, fmt.Errorf("%w: --etcd-cert/--etcd-key: %w", ErrInvalidConfig, err)
		}
		t.Certificates = []tls.Certificate{cert}
	}
	return t, nil
}

// firstSnapshot returns the function a watch calls with each snapshot;
// the first call counts down unsynced, and the last watch to count closes
// synced.
func (n *clusterNode) firstSnapshot() func() {
	return sync.OnceFunc(func() {
		if n.unsynced.Add(-1) == 0 {
			close(n.synced)
		}
	})
}

func (n *clusterNode) wake() {
	select {
	case n.kick <- struct{}{}:
	default:
	}
}

// run is the node's goroutine, owned by Broker.Serve: the watches, the
// membership (registered again after a lost lease) and the reconcile
// loop. It returns when the broker closes, after closing the flusher and
// the membership (the lease is revoked: leaderships move at once).
func (n *clusterNode) run() {
	ctx := n.ctx
	n.unsynced.Store(3)
	brokersSeen, topicsSeen, leadersSeen := n.firstSnapshot(), n.firstSnapshot(), n.firstSnapshot()
	watches := []*cluster.Watcher{
		n.client.WatchBrokers(ctx, func(live []cluster.BrokerInfo) {
			n.mu.Lock()
			n.live = live
			n.mu.Unlock()
			brokersSeen()
			n.wake()
		}),
		n.client.WatchTopics(ctx, func(ts map[string]cluster.TopicInfo) {
			n.setTopics(ts)
			topicsSeen()
			n.wake()
		}),
		n.client.WatchShared(ctx, n.b.watchShared), // clustershared.go
		n.client.WatchLeaders(ctx, func(changes []cluster.LeaderChange, reset bool) {
			n.mu.Lock()
			if reset {
				clear(n.leaders)
			}
			for _, c := range changes {
				if c.Gone {
					delete(n.leaders, c.Partition)
				} else {
					n.leaders[c.Partition] = c.Leader
				}
			}
			n.mu.Unlock()
			leadersSeen()
			n.wake()
		}),
	}
	defer func() {
		for _, w := range watches {
			w.Stop()
		}
	}()
	defer n.loaders.Wait()
	defer n.closePeers()
	for ctx.Err() == nil {
		m, err := n.client.Register(ctx, n.self)
		if err != nil {
			n.log.Warn("registering in etcd failed; retrying", "node", n.self.NodeID, "err", err)
			if !sleepCtx(ctx, time.Second) {
				return
			}
			continue
		}
		f := objlog.NewFlusher(objlog.Config{FlushInterval: n.cfg.FlushInterval, FlushMaxBytes: n.cfg.FlushMaxBytes, Logger: n.b.logger},
			n.client, m, n.store, n.cache)
		// Not ended by the broker's Close: f.Close below flushes what is
		// waiting (acknowledged produces, group writes) before it stops.
		f.Start(context.WithoutCancel(ctx))
		n.mu.Lock()
		n.member, n.flusher = m, f
		n.mu.Unlock()
		n.serveMembership(ctx, m)
		// Lease lost or shutting down: drop everything led.
		closeCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		if ctx.Err() != nil {
			f.Close(closeCtx)
		} else {
			f.Close(cancelled())
		}
		m.Close()
		cancel()
		n.mu.Lock()
		n.member, n.flusher = nil, nil
		clear(n.parts)
		var shards []*groupShard
		for tp := range n.shards {
			shards = n.takeGroupShardLocked(tp, shards)
		}
		var txnShards []*txnShard
		for tp := range n.txnShards {
			txnShards = n.takeTxnShardLocked(tp, txnShards)
		}
		n.mu.Unlock()
		closeGroupShards(shards)
		closeTxnShards(txnShards)
	}
}

func cancelled() context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return ctx
}

// sleepCtx waits d or until ctx ends; false if ctx ended.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// serveMembership reconciles ownership until the membership ends or ctx.
func (n *clusterNode) serveMembership(ctx context.Context, m *cluster.Member) {
	retry := time.NewTimer(time.Second)
	defer retry.Stop()
	for {
		pending := n.reconcile(ctx, m)
		if !retry.Stop() {
			select {
			case <-retry.C:
			default:
			}
		}
		if pending {
			retry.Reset(time.Second)
		}
		select {
		case <-ctx.Done():
			return
		case <-m.Done():
			n.log.Warn("broker lease lost; registering again", "node", n.self.NodeID, "err", m.Err())
			return
		case <-n.kick:
		case <-retry.C:
		}
	}
}

// owner is the live broker owning tp: the highest rendezvous hash.
func owner(tp cluster.TopicPartition, live []cluster.BrokerInfo) int32 {
	best, bestH := int32(-1), uint64(0)
	for _, b := range live {
		h := fnv.New64a()
		h.Write(tp.TopicID[:])
		var buf [8]byte
		binary.BigEndian.PutUint32(buf[:4], uint32(tp.Partition))
		binary.BigEndian.PutUint32(buf[4:], uint32(b.NodeID))
		h.Write(buf[:])
		if s := h.Sum64(); best < 0 || s > bestH {
			best, bestH = b.NodeID, s
		}
	}
	return best
}

// reconcile acquires the partitions this broker owns and does not lead,
// and resigns those it leads and no longer owns. pending reports work
// left for a retry (a previous leader still holding an owned partition).
func (n *clusterNode) reconcile(ctx context.Context, m *cluster.Member) (pending bool) {
	n.mu.Lock()
	f := n.flusher
	live := n.live
	want := map[cluster.TopicPartition]cluster.TopicInfo{}
	for _, t := range n.topics {
		for p := range t.Partitions {
			tp := t.Partition(p)
			if owner(tp, live) == n.self.NodeID {
				want[tp] = t
			}
		}
	}
	var resign []*objlog.Partition
	var shards []*groupShard
	var txnShards []*txnShard
	for tp, p := range n.parts {
		if _, ok := want[tp]; !ok || p.Err() != nil {
			resign = append(resign, p)
			delete(n.parts, tp)
			shards = n.takeGroupShardLocked(tp, shards)
			txnShards = n.takeTxnShardLocked(tp, txnShards)
		}
	}
	_, haveOffsets := n.topics[group.TopicName]
	createOffsets := n.topicsSeen && !haveOffsets
	var acquire []cluster.TopicInfo
	var tps []cluster.TopicPartition
	for tp, t := range want {
		if _, ok := n.parts[tp]; !ok {
			acquire, tps = append(acquire, t), append(tps, tp)
		}
	}
	n.mu.Unlock()
	closeGroupShards(shards) // before the resignation: no write is started after it
	closeTxnShards(txnShards)
	if createOffsets {
		if err := n.createOffsetsTopic(ctx); err != nil {
			n.log.Warn("creating "+group.TopicName+" failed; retrying", "err", err)
			pending = true
		}
	}
	for _, p := range resign {
		if p.Err() == nil {
			if err := p.Resign(ctx); err != nil {
				n.log.Warn("resigning a partition failed", "partition", p.TopicPartition().String(), "err", err)
			}
		}
	}
	for i, tp := range tps {
		if ctx.Err() != nil || m.Err() != nil {
			return false
		}
		p, err := f.Acquire(ctx, tp, n.b.logConfig(acquire[i].Configs))
		if err != nil {
			if !errors.Is(err, cluster.ErrLeaderExists) {
				n.log.Warn("acquiring a partition failed", "topic", acquire[i].Name, "partition", tp.Partition, "err", err)
			}
			pending = true
			continue
		}
		var shard *groupShard
		var tshard *txnShard
		n.mu.Lock()
		if t, ok := n.byID[tp.TopicID]; ok && n.flusher == f {
			if !maps.Equal(t.Configs, acquire[i].Configs) {
				// The topic's configs changed while Acquire ran: setTopics
				// did not see this partition yet.
				p.SetConfig(n.b.logConfig(t.Configs))
			}
			n.parts[tp] = p
			n.leaders[tp] = cluster.LeaderInfo{NodeID: n.self.NodeID, Epoch: p.Epoch()}
			switch acquire[i].Name {
			case group.TopicName:
				shard = n.newGroupShardLocked(tp, p, acquire[i].Partitions)
			case txn.TopicName:
				tshard = n.newTxnShardLocked(tp, p)
			}
		} else {
			pending = true
		}
		n.mu.Unlock()
		if shard != nil {
			n.startGroupShard(shard)
		}
		if tshard != nil {
			n.startTxnShard(tshard)
		}
	}
	return pending
}

// setTopics takes a new copy of the cluster's topics and reconfigures the
// led partitions of topics whose configs changed.
func (n *clusterNode) setTopics(ts map[string]cluster.TopicInfo) {
	byID := make(map[[16]byte]cluster.TopicInfo, len(ts))
	for _, t := range ts {
		byID[t.ID] = t
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	for tp, p := range n.parts {
		if t, ok := byID[tp.TopicID]; ok && !maps.Equal(t.Configs, n.byID[tp.TopicID].Configs) {
			p.SetConfig(n.b.logConfig(t.Configs))
		}
	}
	n.topics, n.byID, n.topicsSeen = ts, byID, true
}

// alterTopicConfigs replaces a topic's config overrides in etcd with what
// next makes of the stored ones (cluster.Client.UpdateTopicConfigs; next
// validates). Every broker, this one included, applies them when its
// topics watch brings them (setTopics, in etcd's order, so a later change
// by another broker is never overwritten); the call waits, up to a few
// seconds, until this broker's copy shows them, so that a DescribeConfigs
// sent here next sees them. An error of next is returned as is; a failure
// to store is KAFKA_STORAGE_ERROR.
func (n *clusterNode) alterTopicConfigs(name string, next func(cur map[string]string) (map[string]string, error)) error {
	ctx, cancel := context.WithTimeout(n.ctx, 10*time.Second)
	defer cancel()
	refused := false
	t, err := n.client.UpdateTopicConfigs(ctx, name, func(cur map[string]string) (map[string]string, error) {
		cfg, err := next(cur)
		refused = err != nil
		return cfg, err
	})
	switch {
	case refused:
		return err
	case errors.Is(err, cluster.ErrUnknownTopic):
		return wireErrf(kerr.UnknownTopicOrPartition, "The topic '%s' does not exist.", name)
	case err != nil:
		n.log.Error("storing configs failed", "topic", name, "err", err)
		return wireErrf(kerr.KafkaStorageError, "storing configs: %v", err)
	}
	n.log.Info("configs changed", "topic", name, "configs", fmt.Sprint(t.Configs))
	wait := time.NewTicker(10 * time.Millisecond)
	defer wait.Stop()
	for range 500 {
		if cur, ok := n.topic(name); !ok || maps.Equal(cur.Configs, t.Configs) {
			return nil
		}
		select {
		case <-ctx.Done():
			return nil // stored; the watch brings it later
		case <-wait.C:
		}
	}
	return nil
}

// partition is the partition this broker leads, or nil.
func (n *clusterNode) partition(tp cluster.TopicPartition) *objlog.Partition {
	n.mu.Lock()
	defer n.mu.Unlock()
	p := n.parts[tp]
	if p != nil && p.Err() != nil {
		return nil
	}
	return p
}

// topic is a topic by name.
func (n *clusterNode) topic(name string) (cluster.TopicInfo, bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	t, ok := n.topics[name]
	return t, ok
}

// topicByID is a topic by id.
func (n *clusterNode) topicByID(id [16]byte) (cluster.TopicInfo, bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	t, ok := n.byID[id]
	return t, ok
}

// leader is tp's leader as this broker knows it.
func (n *clusterNode) leader(tp cluster.TopicPartition) (cluster.LeaderInfo, bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if p := n.parts[tp]; p != nil && p.Err() == nil {
		return cluster.LeaderInfo{NodeID: n.self.NodeID, Epoch: p.Epoch()}, true
	}
	l, ok := n.leaders[tp]
	return l, ok
}

// brokers is the live brokers by node id.
func (n *clusterNode) brokers() []cluster.BrokerInfo {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.live
}

// brokersWithSelf is the live brokers by node id, this broker included
// even before the brokers/ watch shows its registration: it may already
// lead partitions then, and name itself their leader or a coordinator
// (keyLeaderNode), so the brokers Metadata lists must include it (a client
// told of a coordinator missing from Metadata fails: kgo's "unknown
// broker", fatal to a producer id).
func (n *clusterNode) brokersWithSelf() []cluster.BrokerInfo {
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, br := range n.live {
		if br.NodeID == n.self.NodeID {
			return n.live
		}
	}
	out := append(slices.Clone(n.live), n.self)
	slices.SortFunc(out, func(a, b cluster.BrokerInfo) int { return cmp.Compare(a.NodeID, b.NodeID) })
	return out
}
