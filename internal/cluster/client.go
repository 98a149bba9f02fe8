package cluster

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Defaults of Config.
const (
	DefaultLeaseTTL       = 10 * time.Second
	DefaultDialTimeout    = 5 * time.Second
	DefaultRequestTimeout = 5 * time.Second
	// DefaultMaxTxnOps is etcd's own default of --max-txn-ops.
	DefaultMaxTxnOps = 128
	// indexPage is how many keys one range read of a paged scan returns.
	indexPage = 1000
)

// Config says how to reach etcd and who this broker is.
type Config struct {
	// Endpoints are etcd's client URLs (http://host:2379 or https://...).
	Endpoints []string
	// ClusterID names the cluster: every key lives under /sluice/<ClusterID>/.
	ClusterID string
	// TLS, Username and Password are etcd's client TLS and auth options.
	TLS      *tls.Config
	Username string
	Password string
	// LeaseTTL is the broker lease's time to live (default 10 s, etcd
	// grants at least its own minimum, about 1.5 election timeouts); a
	// broker that stops renewing it disappears within this time.
	LeaseTTL time.Duration
	// DialTimeout bounds the first connection (default 5 s).
	DialTimeout time.Duration
	// RequestTimeout bounds each etcd request whose context has no earlier
	// deadline (default 5 s).
	RequestTimeout time.Duration
	// MaxTxnOps is the etcd server's --max-txn-ops (default 128, etcd's
	// default). A Commit needing more operations in one list of its
	// transaction fails with ErrTxnTooLarge before it is sent; see
	// MaxPartitionsPerCommit.
	MaxTxnOps int
	// MaxCallSendMsgSize is the largest request the client sends, in
	// bytes (default 2 MiB, the etcd client's; keep it above etcd's
	// --max-request-bytes, 1.5 MiB by default, plus some overhead, so that
	// the server's own limit is the one that refuses). A larger request is
	// never sent: it fails with ErrTxnTooLarge.
	MaxCallSendMsgSize int
	// Now is the clock the lease's validity is computed on (default
	// time.Now).
	Now func() time.Time
	// Logger gets this package's log lines (default slog.Default()).
	Logger *slog.Logger
}

// Client is a connection to etcd for one cluster id: the read side of the
// metadata (brokers, leaders, indexes, objects) and the factory of a
// broker's Member, which owns the writes that need a lease.
type Client struct {
	etcd *clientv3.Client
	k    keys
	cfg  Config
	log  *slog.Logger
	// closed ends with Close: it stops the watches.
	closed context.Context
	close  context.CancelFunc
}

// Open connects to etcd. The connection is lazy past the first dial:
// requests made while etcd is unreachable wait (up to their deadline)
// and the client reconnects by itself.
func Open(cfg Config) (*Client, error) {
	if cfg.ClusterID == "" {
		return nil, errors.New("cluster: empty cluster id")
	}
	cfg, cl, err := dial(cfg)
	if err != nil {
		return nil, err
	}
	closed, closeFn := context.WithCancel(context.Background())
	return &Client{etcd: cl, k: newKeys(cfg.ClusterID), cfg: cfg, log: cfg.Logger.With("component", "cluster"), closed: closed, close: closeFn}, nil
}

// dial fills cfg's defaults and connects to etcd; cfg.ClusterID is not
// looked at.
func dial(cfg Config) (Config, *clientv3.Client, error) {
	if len(cfg.Endpoints) == 0 {
		return cfg, nil, errors.New("cluster: no etcd endpoints")
	}
	if cfg.LeaseTTL <= 0 {
		cfg.LeaseTTL = DefaultLeaseTTL
	}
	if cfg.LeaseTTL < time.Second {
		return cfg, nil, fmt.Errorf("cluster: lease TTL %v is below etcd's 1 s granularity", cfg.LeaseTTL)
	}
	if cfg.DialTimeout <= 0 {
		cfg.DialTimeout = DefaultDialTimeout
	}
	if cfg.RequestTimeout <= 0 {
		cfg.RequestTimeout = DefaultRequestTimeout
	}
	if cfg.MaxTxnOps <= 0 {
		cfg.MaxTxnOps = DefaultMaxTxnOps
	}
	if cfg.MaxTxnOps < 4 {
		return cfg, nil, fmt.Errorf("cluster: max txn ops %d is below the 4 one partition's commit needs", cfg.MaxTxnOps)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	cl, err := clientv3.New(clientv3.Config{
		Endpoints:          cfg.Endpoints,
		DialTimeout:        cfg.DialTimeout,
		TLS:                cfg.TLS,
		MaxCallSendMsgSize: cfg.MaxCallSendMsgSize,
		Username:           cfg.Username,
		Password:           cfg.Password,
		Logger:             zap.NewNop(),
		// Keepalive pings find a dead connection without waiting for TCP.
		DialKeepAliveTime:    cfg.LeaseTTL / 3,
		DialKeepAliveTimeout: cfg.LeaseTTL / 3,
		// Reconnect within seconds after an etcd restart (gRPC's default
		// backoff grows to two minutes).
		DialOptions: []grpc.DialOption{grpc.WithConnectParams(grpc.ConnectParams{
			Backoff:           backoff.Config{BaseDelay: 100 * time.Millisecond, Multiplier: 1.6, Jitter: 0.2, MaxDelay: 2 * time.Second},
			MinConnectTimeout: cfg.DialTimeout,
		})},
	})
	if err != nil {
		return cfg, nil, fmt.Errorf("cluster: connecting to etcd %v: %w", cfg.Endpoints, classify(err))
	}
	return cfg, cl, nil
}

// Close stops the client's watches and closes the connection. Close
// Members first: a Member whose client is closed can no longer renew its
// lease and loses its membership.
func (c *Client) Close() error {
	c.close()
	return c.etcd.Close()
}

// MaxPartitionsPerCommit is how many partitions one Commit may carry under
// Config.MaxTxnOps when each has one index entry: a partition costs two
// compares (leadership, hw), three puts (index entry, hw, producer state)
// and two reads (the Else branch); the object record one more of each.
func (c *Client) MaxPartitionsPerCommit() int { return (c.cfg.MaxTxnOps - 1) / 3 }

// reqCtx bounds a request by RequestTimeout unless ctx ends sooner.
func (c *Client) reqCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, c.cfg.RequestTimeout)
}

// Errors. ErrUnavailable is the retriable one: etcd could not be reached or
// did not answer in time (a Kafka broker answers REQUEST_TIMED_OUT or
// KAFKA_STORAGE_ERROR, never an acknowledgement). The rest are final for
// the request that got them.
var (
	// ErrUnavailable: etcd unreachable, no etcd leader, or a timeout. For a
	// write (Commit, Acquire) the outcome is unknown: it may have been
	// applied; retrying the same Commit says whether it was (nil).
	ErrUnavailable = errors.New("cluster: etcd unavailable")
	// ErrNotLeader: this broker does not (or no longer) lead the partition
	// at the given epoch; *NotLeaderError says which partitions.
	ErrNotLeader = errors.New("cluster: not the partition's leader")
	// ErrLeaderExists: Acquire found another live leader.
	ErrLeaderExists = errors.New("cluster: partition has a live leader")
	// ErrHWMismatch: the partition's hw in etcd is not where the commit
	// starts; *HWMismatchError has both.
	ErrHWMismatch = errors.New("cluster: high watermark moved")
	// ErrLeaseLost: the membership's lease expired or was revoked; the
	// broker is no longer a member and leads nothing.
	ErrLeaseLost = errors.New("cluster: broker lease lost")
	// ErrNodeIDInUse: another live registration holds this node id.
	ErrNodeIDInUse = errors.New("cluster: node id registered by another live broker")
	// ErrTxnTooLarge: a transaction over etcd's --max-txn-ops or
	// --max-request-bytes, or a request over gRPC's message size limits
	// (Config.MaxCallSendMsgSize). Never applied.
	ErrTxnTooLarge = errors.New("cluster: etcd transaction too large")
	// ErrInvalid: an argument that cannot be right (empty commit,
	// non-contiguous index entries...).
	ErrInvalid = errors.New("cluster: invalid argument")
)

// Retriable reports whether err is worth retrying as is (etcd unavailable
// or slow). ErrNotLeader and ErrHWMismatch need the caller to change its
// state first; the others are final.
func Retriable(err error) bool { return errors.Is(err, ErrUnavailable) }

// classify maps an etcd client error to this package's errors, keeping
// the original in the chain.
func classify(err error) error {
	if err == nil {
		return nil
	}
	switch {
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	case errors.Is(err, rpctypes.ErrTooManyOps), errors.Is(err, rpctypes.ErrRequestTooLarge):
		return fmt.Errorf("%w: %w", ErrTxnTooLarge, err)
	case errors.Is(err, rpctypes.ErrLeaseNotFound):
		return fmt.Errorf("%w: %w", ErrLeaseLost, err)
	case errors.Is(err, rpctypes.ErrCompacted):
		// A paged read pinned to a revision etcd compacted meanwhile:
		// reading again from the start works.
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	case errors.Is(err, rpctypes.ErrNoLeader), errors.Is(err, rpctypes.ErrTimeout),
		errors.Is(err, rpctypes.ErrTimeoutDueToLeaderFail), errors.Is(err, rpctypes.ErrTimeoutDueToConnectionLost),
		errors.Is(err, rpctypes.ErrLeaderChanged), errors.Is(err, rpctypes.ErrNotCapable),
		errors.Is(err, rpctypes.ErrStopped), errors.Is(err, rpctypes.ErrTooManyRequests),
		errors.Is(err, rpctypes.ErrUnhealthy), errors.Is(err, rpctypes.ErrTimeoutWaitAppliedIndex):
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	if s, ok := status.FromError(err); ok {
		switch {
		case s.Code() == codes.ResourceExhausted && strings.Contains(s.Message(), "message larger than max"):
			// gRPC's size limit of a message, the client's
			// (MaxCallSendMsgSize: never sent) or the server's (refused
			// before etcd looked at it): final, nothing was applied.
			return fmt.Errorf("%w: %w", ErrTxnTooLarge, err)
		}
		switch s.Code() {
		case codes.Unavailable, codes.DeadlineExceeded, codes.Canceled, codes.ResourceExhausted, codes.Aborted:
			return fmt.Errorf("%w: %w", ErrUnavailable, err)
		case codes.Unknown:
			// etcd's server returns the request context's error when the
			// deadline the client sent passes while the request waits
			// (for the raft apply, say); gRPC carries a plain error as
			// Unknown with its text. The outcome is unknown, as with any
			// timeout.
			if m := s.Message(); m == context.DeadlineExceeded.Error() || m == context.Canceled.Error() {
				return fmt.Errorf("%w: %w", ErrUnavailable, err)
			}
		}
	}
	// rpctypes errors arrive as EtcdError values converted from status.
	if ee, ok := err.(rpctypes.EtcdError); ok {
		switch ee.Code() {
		case codes.Unavailable, codes.DeadlineExceeded:
			return fmt.Errorf("%w: %w", ErrUnavailable, err)
		}
	}
	return err
}
