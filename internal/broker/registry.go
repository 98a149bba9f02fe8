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
// mapped by ssl.principal.mapping.rules. Authorization is the broker's
// authorizer, subjects as TOPIC resources (internal/registry/acl.go).

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
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

// Errors of registry authentication.
var (
	errNoCredentials  = errors.New("the schema registry needs HTTP basic credentials")
	errBadCredentials = errors.New("invalid username or password")
	errUnmappedCert   = errors.New("no ssl.principal.mapping.rules rule matches the client certificate")
)

type registryServer struct {
	reg  *registry.Registry
	ln   net.Listener
	srv  *http.Server
	sasl bool // basic auth required

	mu       sync.Mutex
	verified map[string]verifiedPassword // user -> last good password
	cacheKey []byte                      // random, per process: the HMAC key of verified sums
}

type verifiedPassword struct {
	sum       []byte // HMAC-SHA-256(cacheKey, mechanism, salt, password)
	storedKey []byte
}

// openRegistry replays _schemas and binds the registry listener.
func (b *Broker) openRegistry() error {
	if b.cfg.RegistryListen == "" {
		return nil
	}
	rs := &registryServer{verified: map[string]verifiedPassword{}, cacheKey: make([]byte, 32)}
	if _, err := rand.Read(rs.cacheKey); err != nil {
		return fmt.Errorf("schema registry: %w", err)
	}
	var useTLS bool
	for _, l := range b.cfg.listenerConfigs() {
		useTLS = useTLS || l.Protocol.TLS()
		rs.sasl = rs.sasl || l.Protocol.SASL()
	}
	logger := b.logger.With("component", "schema-registry")
	rs.reg = registry.New(registry.Config{
		Store:        schemaStore{b},
		Logger:       logger,
		Authorizer:   b.cfg.Authorizer,
		Authenticate: func(r *http.Request) (auth.Principal, error) { return b.registryPrincipal(rs, r) },
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
		"basic_auth", rs.sasl, "took", time.Since(start).Round(time.Millisecond))
	return nil
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

// registryPrincipal authenticates a registry request.
func (b *Broker) registryPrincipal(rs *registryServer, r *http.Request) (auth.Principal, error) {
	if user, pass, ok := r.BasicAuth(); ok {
		if !b.checkPassword(rs, user, pass) {
			return auth.Anonymous, fmt.Errorf("%w: user %q", errBadCredentials, user)
		}
		return auth.Principal{Type: "User", Name: user}, nil
	}
	if r.TLS != nil && len(r.TLS.PeerCertificates) > 0 {
		dn := auth.SubjectDN(r.TLS.PeerCertificates[0])
		name, ok := b.principals.Map(dn)
		if !ok {
			return auth.Anonymous, fmt.Errorf("%w: %s", errUnmappedCert, dn)
		}
		return auth.Principal{Type: "User", Name: name}, nil
	}
	if rs.sasl {
		return auth.Anonymous, errNoCredentials
	}
	return auth.Anonymous, nil
}

// checkPassword verifies a password against the user's SCRAM credentials
// (SCRAM-SHA-512, then SCRAM-SHA-256), as SASL/PLAIN does. A verified
// password is remembered (as a salted hash, with the credential it matched)
// so later requests skip the PBKDF2 until the credential changes.
func (b *Broker) checkPassword(rs *registryServer, user, pass string) bool {
	for _, m := range []auth.ScramMechanism{auth.ScramSHA512, auth.ScramSHA256} {
		cr, ok := b.creds.Get(user, m.Name)
		if !ok {
			continue
		}
		mac := hmac.New(sha256.New, rs.cacheKey)
		mac.Write([]byte(m.Name))
		mac.Write([]byte{0})
		mac.Write(cr.Salt)
		mac.Write([]byte{0})
		mac.Write([]byte(pass))
		sum := mac.Sum(nil)
		rs.mu.Lock()
		v, hit := rs.verified[user]
		rs.mu.Unlock()
		if hit && hmac.Equal(v.sum, sum) && subtle.ConstantTimeCompare(v.storedKey, cr.StoredKey) == 1 {
			return true
		}
		if !m.VerifyPassword(auth.ScramCredential{Salt: cr.Salt, StoredKey: cr.StoredKey, ServerKey: cr.ServerKey, Iterations: cr.Iterations}, pass) {
			return false
		}
		rs.mu.Lock()
		rs.verified[user] = verifiedPassword{sum: sum, storedKey: cr.StoredKey}
		rs.mu.Unlock()
		return true
	}
	auth.ScramSHA256.VerifyPassword(auth.ScramSHA256.FakeCredential(user), pass) // no timing oracle
	return false
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
