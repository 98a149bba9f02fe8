package broker

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"time"

	"github.com/sluice-io/sluice/internal/auth"
	"github.com/sluice-io/sluice/internal/vfs"
)

// Config is the one documented configuration of a broker. The command line,
// the environment (SLUICE_*) and the properties file all map onto it; see
// internal/cli/serve.go for the mapping. Zero values mean "use the default".
type Config struct {
	// Listen is the host:port the broker accepts Kafka connections on.
	// Default 127.0.0.1:9092.
	Listen string
	// AdvertisedAddr is the host:port given to clients in Metadata. Default:
	// the address the listener actually bound (useful with port 0).
	AdvertisedAddr string
	// Listeners are named listeners, each with its security protocol
	// (Kafka's listeners, advertised.listeners and
	// listener.security.protocol.map; ParseListeners builds them from
	// those). When set, Listen and AdvertisedAddr are ignored; when empty,
	// the broker has one PLAINTEXT listener named PLAINTEXT on Listen,
	// advertised as AdvertisedAddr. Addr is the first listener's address.
	// SSL and SASL_SSL listeners need TLSCertFile and TLSKeyFile; SASL
	// listeners authenticate with sasl.enabled.mechanisms (Kafka). See
	// listener.go, tls.go and sasl.go.
	Listeners []Listener
	// TLSCertFile and TLSKeyFile are PEM files with the server certificate
	// chain and its private key (they may be the same file, as Kafka's PEM
	// ssl.keystore.location). They are re-read when their modification
	// time changes, so certificates rotate without a restart.
	TLSCertFile string
	TLSKeyFile  string
	// TLSClientCAFile is a PEM bundle of the CAs client certificates are
	// verified against on SSL listeners (Kafka's ssl.truststore.location);
	// ssl.client.auth (none, requested, required) says whether clients
	// must present one. Needed unless ssl.client.auth is none.
	TLSClientCAFile string
	// RegistryListen is the host:port of the built-in schema registry
	// (Confluent's REST API; see registry.go); empty: no registry. `sluice
	// serve` defaults it to DefaultRegistryListen.
	RegistryListen string
	// RegistryStoreTimeout bounds a registry write's append to _schemas
	// (Confluent's kafkastore.timeout.ms); past it the write is answered
	// 50002. Default registry.DefaultStoreTimeout (500 ms).
	RegistryStoreTimeout time.Duration
	// HTTPListen is the host:port of the operations listener (http.go):
	// /metrics, /healthz, /readyz and, with PProf, /debug/pprof/. Empty:
	// off. `sluice serve` defaults it to DefaultHTTPListen.
	HTTPListen string
	// PProf serves Go's profiler under /debug/pprof/ on HTTPListen.
	PProf bool
	// NoConsole leaves the web console (internal/console, at / on
	// HTTPListen) out; `sluice serve --console=false`.
	NoConsole bool
	// MetricsPartitionSeriesMax is the metrics' cardinality budget
	// (metrics.partition.series.max): with more partitions than this,
	// per-partition series are left out and only per-topic ones remain.
	// 0 means metrics.DefaultPartitionSeriesMax; negative: never
	// per-partition.
	MetricsPartitionSeriesMax int
	// DataDir holds topic metadata and partition logs. Default ./data.
	DataDir string
	// NodeID is this broker's id (Kafka's node.id). Default 1.
	NodeID int32
	// Kafka holds broker configs under Kafka's names (num.partitions,
	// auto.create.topics.enable, log.segment.bytes, ...): the static broker
	// configs that DescribeConfigs reports with source STATIC_BROKER_CONFIG.
	Kafka map[string]string
	// ShutdownTimeout bounds how long Close waits for in-flight requests.
	// Default 5s.
	ShutdownTimeout time.Duration
	// Cluster, when its Etcd and ObjectStore are set, runs the broker in
	// cluster mode (DESIGN.md, "Cluster mode"): topics, membership and
	// leadership in etcd, record data in the object store. Empty: the
	// single-node broker on DataDir.
	Cluster ClusterConfig

	// Logger receives the broker's logs. Default slog.Default().
	Logger *slog.Logger `json:"-"`
	// FS is the file-system seam for the data directory. Default the OS.
	FS vfs.FS `json:"-"`
	// Authorizer is asked before every operation. Default auth.AllowAll.
	Authorizer auth.Authorizer `json:"-"`
	// Now is the clock. Default time.Now.
	Now func() time.Time `json:"-"`
}

// ClusterConfig is cluster mode's part of Config (`sluice serve --etcd
// ... --object-store ...`). Etcd and ObjectStore go together.
type ClusterConfig struct {
	// Etcd are etcd's client URLs (--etcd, comma-separated).
	Etcd []string
	// EtcdCAFile, EtcdCertFile and EtcdKeyFile are PEM files of etcd's
	// client TLS: the CAs etcd's certificate is verified against, and the
	// client certificate and key (--etcd-ca, --etcd-cert, --etcd-key).
	EtcdCAFile, EtcdCertFile, EtcdKeyFile string
	// EtcdUser and EtcdPassword are etcd's auth (--etcd-user
	// USER[:PASSWORD], the password also from SLUICE_ETCD_PASSWORD).
	EtcdUser, EtcdPassword string
	// ObjectStore is the object-store URL,
	// s3://BUCKET/PREFIX?endpoint=URL&region=R&path_style=true
	// (internal/objstore.ParseURL); credentials from the AWS environment
	// (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_PROFILE...).
	ObjectStore string
	// ID names the cluster: etcd keys live under /sluice/<ID>/ and
	// Metadata reports it as the cluster id (--cluster-id, default
	// DefaultClusterID). Every broker of a cluster uses the same.
	ID string
	// FlushInterval is cluster.flush.interval.ms (default 25 ms).
	FlushInterval time.Duration
	// FlushMaxBytes is cluster.flush.max.bytes (default 4 MiB).
	FlushMaxBytes int
	// CacheMemoryBytes is cluster.cache.memory.bytes, the read cache's
	// memory tier (default DefaultClusterCacheMemory; 0 takes the
	// default, negative turns it off).
	CacheMemoryBytes int64
	// CacheDiskBytes is cluster.cache.disk.bytes, the read cache's disk
	// tier under DataDir/object-cache (default 0: off).
	CacheDiskBytes int64
	// LeaseTTL is cluster.lease.ttl.ms, the broker lease's TTL (default
	// 10 s, at least 1 s): a dead broker's partitions move after it.
	LeaseTTL time.Duration
	// GCInterval is cluster.gc.interval.ms, the time between rounds of the
	// object garbage collector, which runs on the controller only (default
	// 5 min, objlog.DefaultGCInterval: Kafka's log.retention.check.interval.ms
	// default, as the collector's work follows retention's).
	GCInterval time.Duration
	// MergeTargetBytes is cluster.merge.target.bytes, the size of the
	// objects small index entries are merged into (objlog
	// Partition.Merge; default DefaultClusterMergeTarget; negative turns
	// merging off).
	MergeTargetBytes int64
}

// Enabled reports whether the configuration asks for cluster mode.
func (c ClusterConfig) Enabled() bool { return len(c.Etcd) > 0 || c.ObjectStore != "" }

// Defaults of ClusterConfig.
const (
	DefaultClusterID          = "sluice"
	DefaultClusterCacheMemory = 256 << 20
	DefaultClusterMergeTarget = 8 << 20
)

// Defaults of Config.
const (
	DefaultListen  = "127.0.0.1:9092"
	DefaultDataDir = "./data"
	DefaultNodeID  = 1
)

// ErrInvalidConfig marks a configuration the broker refuses to start with.
var ErrInvalidConfig = errors.New("invalid configuration")

// withDefaults fills zero fields and validates the result.
func (c Config) withDefaults() (Config, error) {
	if c.Listen == "" {
		c.Listen = DefaultListen
	}
	if c.DataDir == "" {
		c.DataDir = DefaultDataDir
	}
	if c.NodeID == 0 {
		c.NodeID = DefaultNodeID
	}
	if c.ShutdownTimeout == 0 {
		c.ShutdownTimeout = 5 * time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.FS == nil {
		c.FS = vfs.Default
	}
	if c.Authorizer == nil {
		c.Authorizer = auth.AllowAll{}
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Kafka == nil {
		c.Kafka = map[string]string{}
	}
	if err := c.validateListeners(); err != nil {
		return c, err
	}
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		return c, fmt.Errorf("%w: listen address %q: %w", ErrInvalidConfig, c.Listen, err)
	}
	if c.AdvertisedAddr != "" {
		_, port, err := net.SplitHostPort(c.AdvertisedAddr)
		if err != nil {
			return c, fmt.Errorf("%w: advertised address %q: %w", ErrInvalidConfig, c.AdvertisedAddr, err)
		}
		if p, err := strconv.Atoi(port); err != nil || p <= 0 || p > 65535 {
			return c, fmt.Errorf("%w: advertised address %q: port must be 1-65535", ErrInvalidConfig, c.AdvertisedAddr)
		}
	}
	if c.NodeID < 0 {
		return c, fmt.Errorf("%w: node.id %d must not be negative", ErrInvalidConfig, c.NodeID)
	}
	if err := c.validateCluster(); err != nil {
		return c, err
	}
	if c.ShutdownTimeout < 0 {
		return c, fmt.Errorf("%w: shutdown timeout %v must not be negative", ErrInvalidConfig, c.ShutdownTimeout)
	}
	return c, nil
}

// validateCluster fills ClusterConfig's defaults and refuses, in cluster
// mode, what cluster mode does not serve yet rather than pretend. SASL,
// the ACL authorizer and super users, and client quotas are served: their
// users, ACLs and quotas are in etcd (clustershared.go).
func (c *Config) validateCluster() error {
	cc := &c.Cluster
	if !cc.Enabled() {
		return nil
	}
	if len(cc.Etcd) == 0 || cc.ObjectStore == "" {
		return fmt.Errorf("%w: cluster mode needs both --etcd and --object-store", ErrInvalidConfig)
	}
	if cc.ID == "" {
		cc.ID = DefaultClusterID
	}
	if cc.CacheMemoryBytes == 0 {
		cc.CacheMemoryBytes = DefaultClusterCacheMemory
	}
	if cc.MergeTargetBytes == 0 {
		cc.MergeTargetBytes = DefaultClusterMergeTarget
	}
	if cc.LeaseTTL != 0 && cc.LeaseTTL < time.Second {
		return fmt.Errorf("%w: cluster.lease.ttl.ms %d: at least 1000 (etcd's granularity)", ErrInvalidConfig, cc.LeaseTTL.Milliseconds())
	}
	if cc.FlushInterval < 0 || cc.FlushMaxBytes < 0 || cc.CacheDiskBytes < 0 || cc.GCInterval < 0 {
		return fmt.Errorf("%w: cluster.flush.*, cluster.cache.disk.bytes and cluster.gc.interval.ms must not be negative", ErrInvalidConfig)
	}
	if (cc.EtcdCertFile == "") != (cc.EtcdKeyFile == "") {
		return fmt.Errorf("%w: --etcd-cert and --etcd-key go together", ErrInvalidConfig)
	}
	notYet := func(what, hint string) error {
		return fmt.Errorf("%w: cluster mode does not support %s yet; %s", ErrInvalidConfig, what, hint)
	}
	if c.RegistryListen != "" {
		return notYet("the schema registry", "pass --registry-listen ''")
	}
	return nil
}
