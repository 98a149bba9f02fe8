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

	// Logger receives the broker's logs. Default slog.Default().
	Logger *slog.Logger `json:"-"`
	// FS is the file-system seam for the data directory. Default the OS.
	FS vfs.FS `json:"-"`
	// Authorizer is asked before every operation. Default auth.AllowAll.
	Authorizer auth.Authorizer `json:"-"`
	// Now is the clock. Default time.Now.
	Now func() time.Time `json:"-"`
}

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
	if c.ShutdownTimeout < 0 {
		return c, fmt.Errorf("%w: shutdown timeout %v must not be negative", ErrInvalidConfig, c.ShutdownTimeout)
	}
	return c, nil
}
