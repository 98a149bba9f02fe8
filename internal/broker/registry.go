package broker

// Wiring of the schema registry (internal/registry) into the broker.
//
// With Config.RegistryListen set, New replays the compacted _schemas topic
// into the registry and binds its HTTP listener before returning, so the
// registry never answers from a partial state; Serve serves it and Close
// shuts it down (in-flight requests finish, bounded by ShutdownTimeout)
// before the logs close. The registry writes through schemaStore: one
// batch per write, appended to _schemas (created, compacted and internal,
// on the first write) and in the log before the write is acknowledged. An
// append slower than Config.RegistryStoreTimeout (Confluent's
// kafkastore.timeout.ms, 500 ms) is answered 50002 and finishes in the
// background (registry.Registry.write).
//
// Security follows the Kafka listeners: HTTPS with the broker's certificate
// when any listener uses TLS (reloaded as the listeners' is); when any
// listener uses SASL, every request needs HTTP basic credentials, checked
// against the SCRAM credentials as SASL/PLAIN is; a verified TLS client
// certificate (ssl.client.auth requested or required) is a principal too,
// mapped by ssl.principal.mapping.rules (httpauth.go, shared with the
// operations listener of http.go). Authorization is the broker's
// authorizer, subjects as TOPIC resources (internal/registry/acl.go).

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/sluice-io/sluice/internal/auth"
	"github.com/sluice-io/sluice/internal/log"
	"github.com/sluice-io/sluice/internal/meta"
	"github.com/sluice-io/sluice/internal/registry"
)

// SchemasTopic is the registry's topic (Confluent's kafkastore.topic default).
const SchemasTopic = "_schemas"

// DefaultRegistryListen is the registry address `sluice serve` uses unless
// told otherwise.
const DefaultRegistryListen = "127.0.0.1:8081"

type registryServer struct {
	reg  *registry.Registry
	ln   net.Listener
	srv  *http.Server
	auth *httpAuth // httpauth.go
}

// openRegistry replays _schemas and binds the registry listener.
func (b *Broker) openRegistry() error {
	if b.cfg.RegistryListen == "" {
		return nil
	}
	a, err := newHTTPAuth(b)
	if err != nil {
		return fmt.Errorf("schema registry: %w", err)
	}
	rs := &registryServer{auth: a}
	useTLS := b.httpUsesTLS()
	logger := b.logger.With("component", "schema-registry")
	rs.reg = registry.New(registry.Config{
		Store:        schemaStore{b},
		Logger:       logger,
		Authorizer:   b.cfg.Authorizer,
		Authenticate: func(r *http.Request) (auth.Principal, error) { return rs.principal(r) },
		StoreTimeout: b.cfg.RegistryStoreTimeout,
	})
	start := time.Now()
	n, bad := 0, 0
	if t := b.topic(SchemasTopic); t != nil {
		var err error
		n, err = b.replayTopic(t, func(_ *partition, _ *log.BatchHeader, key, value []byte) error {
			if err := rs.reg.Replay(key, value); err != nil {
				bad++
			}
			return nil
		}, nil)
		if err != nil {
			return fmt.Errorf("replaying %s: %w", SchemasTopic, err)
		}
	}
	ln, err := net.Listen("tcp", b.cfg.RegistryListen)
	if err != nil {
		return fmt.Errorf("%w: schema registry listener %s: %w", ErrInvalidConfig, b.cfg.RegistryListen, err)
	}
	if useTLS {
		ln = tls.NewListener(ln, &tls.Config{
			MinVersion: tls.VersionTLS12,
			GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) {
				return b.tls.current(ProtocolSSL), nil
			},
		})
	}
	rs.ln = ln
	rs.srv = &http.Server{
		Handler:           rs.reg.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second, // a body trickled in slowly holds no goroutine forever
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	b.registry = rs
	scheme := "http"
	if useTLS {
		scheme = "https"
	}
	logger.Info("schema registry ready", "url", fmt.Sprintf("%s://%s", scheme, ln.Addr()), "records", n, "skipped", bad,
		"basic_auth", rs.auth.sasl, "took", time.Since(start).Round(time.Millisecond))
	return nil
}

// principal is the caller of a registry request: the operations
// listener's authenticated subject for the web console's in-process
// requests (console.go), else the request's credentials.
func (rs *registryServer) principal(r *http.Request) (auth.Principal, error) {
	if subj, ok := HTTPSubject(r.Context()); ok {
		return subj.Principal, nil
	}
	return rs.auth.principal(r)
}

// RegistryAddr is the schema registry's bound address, or nil when off.
func (b *Broker) RegistryAddr() net.Addr {
	if b.registry == nil {
		return nil
	}
	return b.registry.ln.Addr()
}

// serveRegistry serves the registry until Close.
func (b *Broker) serveRegistry() {
	if b.registry == nil {
		return
	}
	rs := b.registry
	b.goOwned(func() {
		if err := rs.srv.Serve(rs.ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			b.logger.Error("schema registry stopped", "err", err)
		}
	})
}

// closeRegistry stops accepting and waits (bounded) for requests in flight.
func (b *Broker) closeRegistry() {
	if b.registry == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), b.cfg.ShutdownTimeout)
	defer cancel()
	if err := b.registry.srv.Shutdown(ctx); err != nil {
		b.registry.srv.Close()
	}
	b.registry.ln.Close()  // when Serve never ran
	b.registry.reg.Close() // appends of timed-out writes, before the logs close
}

// Prepare creates _schemas (compacted, internal, one partition) before the
// first write; the registry calls it outside its store timeout.
func (s schemaStore) Prepare() error {
	if s.b.topic(SchemasTopic) != nil {
		return nil
	}
	_, err := s.b.createTopic(meta.Topic{Name: SchemasTopic, Partitions: 1, Internal: true,
		Configs: map[string]string{"cleanup.policy": "compact"}})
	if err != nil && !errors.Is(err, meta.ErrTopicExists) {
		return fmt.Errorf("creating %s: %w", SchemasTopic, err)
	}
	return nil
}

// schemaStore appends the registry's records to _schemas.
type schemaStore struct{ b *Broker }

func (s schemaStore) Append(recs []registry.Record) error {
	b := s.b
	if err := s.Prepare(); err != nil {
		return err
	}
	p := b.partition(SchemasTopic, 0)
	if p == nil {
		return fmt.Errorf("%s partition 0 is missing", SchemasTopic)
	}
	kvs := make([]log.KV, len(recs))
	for i, r := range recs {
		kvs[i] = log.KV{Key: r.Key, Value: r.Value}
	}
	if _, err := p.log.Append(log.EncodeBatch(kvs, b.cfg.Now().UnixMilli(), -1, -1, false)); err != nil {
		return fmt.Errorf("appending to %s: %w", SchemasTopic, err)
	}
	p.notify()
	return nil
}
