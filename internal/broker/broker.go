// Package broker is Sluice's Kafka wire-protocol server: it accepts
// connections, decodes requests with kmsg, asks the authorizer, and hands
// the work to the topic registry and partition logs.
//
// The request path reads top to bottom: conn.go reads a frame and decodes
// the header, handler.go finds the handler by API key and checks the
// version, and each NN_name.go file (numbered by API key, as in franz-go's
// kfake) implements one API and lists the versions it serves.
//
// Lock order: see DESIGN.md, "Lock order" (the one list).
package broker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sluice-io/sluice/internal/auth"
	"github.com/sluice-io/sluice/internal/group"
	"github.com/sluice-io/sluice/internal/meta"
	"github.com/sluice-io/sluice/internal/metrics"
	"github.com/sluice-io/sluice/internal/quota"
)

// Broker is a single-node Kafka-compatible broker.
type Broker struct {
	cfg    Config
	logger *slog.Logger
	store  *meta.Store
	pids   *producerIDs

	mu     sync.RWMutex
	topics map[string]*topic
	byID   map[[16]byte]*topic

	sessions *fetchSessions
	// fetchWaiting counts fetches parked in a long poll, waiting for data
	// or their MaxWait (Kafka's fetch purgatory size).
	fetchWaiting atomic.Int64
	// fetchLoadBudget is the const of the same name; tests shorten it.
	fetchLoadBudget time.Duration
	groups          *group.Coordinator
	shares          *shareWiring // share groups, KIP-932 (share.go)
	lc              lifecycle    // retention, cleaner, free-space floor (lifecycle.go)

	txns  *txnWiring   // transaction coordinator (txn.go)
	timer tickSchedule // the coordinators' deadlines (tick.go)

	lns            []*listener       // listener.go; the first one is Addr
	tls            *tlsServer        // tls.go; nil without TLS listeners
	creds          *meta.Credentials // SCRAM credentials (sasl.go)
	saslMechanisms []string          // sasl.enabled.mechanisms
	principals     *auth.PrincipalMapper
	jwt            *auth.JWTValidation // OAUTHBEARER (sasl.go)
	sg             saslGuard           // failed-authentication defences (saslguard.go)
	frames         *frameBudget        // queued.max.request.bytes (admission.go)
	quotas         *quota.Manager      // client quotas (quotas.go)
	registry       *registryServer     // schema registry (registry.go); nil when off
	ops            *opsServer          // operations listener (http.go); nil when off
	metrics        *metrics.Metrics    // metrics.go; nil (recording nothing) with no ops listener
	cl             *clusterNode        // cluster mode (cluster.go); nil on a single node

	connsMu sync.Mutex
	conns   map[*conn]struct{}
	closing bool

	done    chan struct{} // closed when shutdown starts
	wg      sync.WaitGroup
	closeMu sync.Mutex
	closed  bool
}

type hostPort struct {
	host string
	port int32
}

// New opens the data directory (recovering every partition log) and binds
// the listener. It does not accept connections until Serve.
func New(cfg Config) (_ *Broker, err error) {
	pickAuthorizer := cfg.Authorizer == nil // acls.go: from the broker configs
	cfg, err = cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	// As Kafka does, an unknown name in the static config is a warning (it
	// may belong to a newer version or another tool); a bad value of a
	// known one stops start-up.
	known := map[string]string{}
	for k, v := range cfg.Kafka {
		if _, ok := meta.BrokerConfig(k); !ok {
			cfg.Logger.Warn("ignoring unknown broker config", "name", k)
			continue
		}
		known[k] = v
	}
	cfg.Kafka = known
	if err := meta.ValidateBrokerConfigs(cfg.Kafka, false); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	}
	if err := cfg.FS.MkdirAll(cfg.DataDir, 0o755); err != nil {
		return nil, fmt.Errorf("creating data directory: %w", err)
	}
	if pickAuthorizer {
		if cfg.Authorizer, err = configuredAuthorizer(cfg); err != nil {
			return nil, err
		}
	}
	b := &Broker{
		cfg:    cfg,
		logger: cfg.Logger,
		topics: map[string]*topic{},
		byID:   map[[16]byte]*topic{},
		conns:  map[*conn]struct{}{},
		done:   make(chan struct{}),
	}
	b.sessions = newFetchSessions(1000, cfg.Now)
	b.fetchLoadBudget = fetchLoadBudget
	if err := b.openOps(); err != nil { // http.go: probes answer during recovery
		return nil, err
	}
	defer func() {
		if err != nil {
			b.closeOps()
		}
	}()
	if err := b.checkMetadataPresent(); err != nil { // datadir.go
		return nil, err
	}
	if b.store, err = meta.OpenStore(cfg.FS, cfg.DataDir, cfg.Logger); err != nil {
		return nil, err
	}
	if b.pids, err = openProducerIDs(cfg.FS, cfg.DataDir); err != nil {
		return nil, err
	}
	b.initLifecycle() // lifecycle.go; before the logs open
	if err := b.loadTopics(); err != nil {
		b.closeLogs()
		return nil, err
	}
	b.producerIDsFromLogs(b.pids.found) // datadir.go
	b.ops.setNotReady(notReadyCoordinators)
	if err := b.openGroups(); err != nil {
		b.closeLogs()
		return nil, err
	}
	if err := b.openShares(); err != nil {
		b.closeLogs()
		return nil, err
	}
	if err := b.openTxns(); err != nil {
		b.closeLogs()
		return nil, err
	}
	b.ops.setNotReady(notReadySecurity)
	if err := b.setupSecurity(); err != nil {
		b.closeLogs()
		return nil, err
	}
	b.ops.setNotReady(notReadyListeners)
	if err := b.ops.securityReady(); err != nil {
		b.closeLogs()
		return nil, err
	}
	if err := b.openQuotas(); err != nil {
		b.closeLogs()
		return nil, err
	}
	if err := b.openListeners(); err != nil {
		b.closeLogs()
		return nil, err
	}
	if err := b.openRegistry(); err != nil {
		b.closeListeners()
		b.closeLogs()
		return nil, err
	}
	if b.cfg.Cluster.Enabled() {
		if err := b.openCluster(); err != nil { // cluster.go
			b.closeRegistry()
			b.closeListeners()
			b.closeLogs()
			return nil, err
		}
	}
	return b, nil
}

// Addr is the address the first listener is bound to.
func (b *Broker) Addr() net.Addr { return b.lns[0].ln.Addr() }

// ListenerAddr is the address the named listener is bound to, or nil.
func (b *Broker) ListenerAddr(name string) net.Addr {
	for _, l := range b.lns {
		if l.Name == name {
			return l.ln.Addr()
		}
	}
	return nil
}

// ClusterID is the persisted cluster id reported in Metadata.
func (b *Broker) ClusterID() string {
	if b.cl != nil {
		return b.cfg.Cluster.ID
	}
	return b.store.ClusterID()
}

// Serve accepts connections until ctx is done or Close is called, then
// shuts down and returns. It returns nil after a clean shutdown.
func (b *Broker) Serve(ctx context.Context) error {
	if !b.goOwned(b.ticker) {
		return nil // closed before Serve
	}
	b.goOwned(b.retentionLoop) // lifecycle.go
	b.goOwned(b.cleanerLoop)
	b.goOwned(b.scrubLoop) // scrub.go
	if b.cl != nil {
		b.goOwned(b.cl.run)   // cluster.go
		b.goOwned(b.cl.runGC) // clusterlife.go
	}
	stop := context.AfterFunc(ctx, func() { b.Close() })
	defer stop()
	if b.cl != nil {
		// cluster.go: no answer before the first view of the cluster.
		select {
		case <-b.cl.synced:
		case <-b.done:
			return b.Close()
		}
	}
	b.logListening()
	b.serveRegistry() // registry.go
	errc := make(chan error, len(b.lns))
	if !b.isClosing() {
		// http.go: /readyz. The listeners are bound (New) and accept from
		// here on; a connection made meanwhile waits in the backlog.
		b.ops.setNotReady("")
	}
	for _, l := range b.lns {
		b.goOwned(func() {
			if err := b.accept(l); err != nil {
				errc <- err
			}
		})
	}
	select {
	case <-b.done:
		return b.Close()
	case err := <-errc:
		b.Close()
		return err
	}
}

// accept serves one listener until shutdown; the error is a failure to
// accept that is not temporary.
func (b *Broker) accept(l *listener) error {
	ml := b.metrics.Listener(l.Name) // nil-safe
	var tempDelay time.Duration
	for {
		nc, err := l.ln.Accept()
		if err != nil {
			select {
			case <-b.done:
				return nil
			default:
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				tempDelay = min(max(2*tempDelay, 5*time.Millisecond), time.Second)
				b.logger.Warn("accept failed; retrying", "listener", l.Name, "err", err, "delay", tempDelay)
				select {
				case <-time.After(tempDelay):
				case <-b.done:
				}
				continue
			}
			return fmt.Errorf("accepting connections on listener %s: %w", l.Name, err)
		}
		tempDelay = 0
		c := newListenerConn(b, nc, l)
		if !b.addConn(c) {
			nc.Close()
			continue
		}
		ml.Opened()
		if !b.goOwned(func() {
			defer ml.Closed()
			defer b.removeConn(c)
			c.serve()
		}) {
			ml.Closed()
		}
	}
}

// goOwned runs fn in a goroutine that Close waits for, unless shutdown has
// begun. Adding to the WaitGroup under connsMu, which Close holds when it
// marks closing, keeps Add from racing with Close's Wait.
func (b *Broker) goOwned(fn func()) bool {
	b.connsMu.Lock()
	defer b.connsMu.Unlock()
	if b.closing {
		return false
	}
	b.wg.Add(1)
	go func() {
		defer b.wg.Done()
		fn()
	}()
	return true
}

// isClosing reports whether shutdown has begun.
func (b *Broker) isClosing() bool {
	select {
	case <-b.done:
		return true
	default:
		return false
	}
}

func (b *Broker) addConn(c *conn) bool {
	b.connsMu.Lock()
	defer b.connsMu.Unlock()
	if b.closing {
		return false
	}
	b.conns[c] = struct{}{}
	return true
}

func (b *Broker) removeConn(c *conn) {
	b.connsMu.Lock()
	delete(b.conns, c)
	b.connsMu.Unlock()
}

// Close stops accepting, closes every connection, waits for their
// goroutines (bounded by ShutdownTimeout), then flushes and closes every
// partition log so the next start is a clean one. It is idempotent.
func (b *Broker) Close() error {
	b.closeMu.Lock()
	defer b.closeMu.Unlock()
	if b.closed {
		return nil
	}
	b.closed = true
	close(b.done)
	b.ops.setNotReady(notReadyShutdown)
	b.groups.Close()
	b.closeListeners()
	b.closeRegistry()
	b.closeOps() // http.go
	b.connsMu.Lock()
	b.closing = true
	for c := range b.conns {
		c.close()
	}
	b.connsMu.Unlock()
	if b.cl != nil {
		b.cl.cancel() // cluster.go: run flushes, deregisters and returns
	}
	waited := make(chan struct{})
	go func() { b.wg.Wait(); close(waited) }()
	select {
	case <-waited:
	case <-time.After(b.cfg.ShutdownTimeout):
		b.logger.Warn("shutdown timed out waiting for connections; closing logs anyway")
	}
	if b.cl != nil {
		b.cl.client.Close()
	}
	err := b.closeLogs()
	if err == nil {
		b.logger.Info("broker stopped cleanly")
	}
	return err
}
