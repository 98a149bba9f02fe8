package broker

// TLS on SSL and SASL_SSL listeners, and the broker's security set-up.
//
// * PEM certificate chain and key (Config.TLSCertFile, TLSKeyFile), TLS 1.2
//   at least.
// * Client certificates on SSL listeners per ssl.client.auth: none,
//   requested (verified when given) or required, against
//   Config.TLSClientCAFile. As in Kafka, ssl.client.auth does not apply to
//   SASL_SSL listeners, whose principal comes from SASL.
// * The principal of an SSL connection is "User:" + the client
//   certificate's subject DN in RFC 2253 form, mapped by
//   ssl.principal.mapping.rules (auth.PrincipalMapper); without a
//   certificate it is User:ANONYMOUS.
// * Certificates rotate without a restart: each handshake asks for the
//   current configuration, and the files' modification times and sizes are
//   checked at most every tlsCheckInterval; a changed file is re-read, and a
//   file that fails to load keeps the previous certificate (logged).
// * A client that fails the handshake (a plaintext client, an unknown CA,
//   no certificate where one is required) is closed with a log line.

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/sluice-io/sluice/internal/auth"
	"github.com/sluice-io/sluice/internal/cluster"
	"github.com/sluice-io/sluice/internal/meta"
)

// tlsCheckInterval bounds how often the certificate files are stat'ed.
var tlsCheckInterval = 5 * time.Second

// tlsHandshakeTimeout bounds a client's TLS handshake.
const tlsHandshakeTimeout = 10 * time.Second

// setupSecurity opens the credential store and prepares TLS and SASL.
func (b *Broker) setupSecurity() error {
	var err error
	if b.cfg.Cluster.Enabled() {
		// In etcd, loaded by openCluster (clustershared.go).
		b.creds = meta.NewSharedCredentials(clusterDoc{b, cluster.SharedCredentials}, b.logger)
	} else if b.creds, err = meta.OpenCredentials(b.cfg.FS, b.cfg.DataDir, b.logger); err != nil {
		return err
	}
	if err := b.initSASLGuard(); err != nil {
		return err
	}
	for _, m := range strings.Split(b.brokerValue("sasl.enabled.mechanisms"), ",") {
		if m = strings.TrimSpace(m); m != "" {
			b.saslMechanisms = append(b.saslMechanisms, m)
		}
	}
	if b.principals, err = auth.ParsePrincipalMappingRules(b.brokerValue("ssl.principal.mapping.rules")); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	}
	var needTLS, needSSLAuth, needSASL bool
	for _, l := range b.cfg.listenerConfigs() {
		needTLS = needTLS || l.Protocol.TLS()
		needSSLAuth = needSSLAuth || l.Protocol == ProtocolSSL
		needSASL = needSASL || l.Protocol.SASL()
	}
	if needSASL && len(b.saslMechanisms) == 0 {
		return fmt.Errorf("%w: a SASL listener needs sasl.enabled.mechanisms", ErrInvalidConfig)
	}
	if needSASL && b.mechanismEnabled("OAUTHBEARER") {
		if b.jwt, err = b.jwtValidation(); err != nil {
			return fmt.Errorf("%w: OAUTHBEARER: %w", ErrInvalidConfig, err)
		}
	}
	if !needTLS {
		return nil
	}
	clientAuth := tls.NoClientCert
	switch b.brokerValue("ssl.client.auth") {
	case "requested":
		clientAuth = tls.VerifyClientCertIfGiven
	case "required":
		clientAuth = tls.RequireAndVerifyClientCert
	}
	if needSSLAuth && clientAuth != tls.NoClientCert && b.cfg.TLSClientCAFile == "" {
		return fmt.Errorf("%w: ssl.client.auth=%s needs the client CA file (--tls-client-ca or ssl.truststore.location)", ErrInvalidConfig, b.brokerValue("ssl.client.auth"))
	}
	b.tls = &tlsServer{
		certFile: b.cfg.TLSCertFile, keyFile: b.cfg.TLSKeyFile, caFile: b.cfg.TLSClientCAFile,
		clientAuth: clientAuth, logger: b.logger, now: b.cfg.Now,
	}
	return b.tls.load()
}

// tlsServer holds the current TLS configurations and reloads them.
type tlsServer struct {
	certFile, keyFile, caFile string
	clientAuth                tls.ClientAuthType
	logger                    *slog.Logger
	now                       func() time.Time

	mu        sync.Mutex
	nextCheck time.Time
	stamps    []fileStamp
	ssl, sasl *tls.Config // for SSL listeners (client auth) and SASL_SSL ones
}

type fileStamp struct {
	mod  time.Time
	size int64
}

func (t *tlsServer) files() []string {
	fs := []string{t.certFile, t.keyFile}
	if t.caFile != "" {
		fs = append(fs, t.caFile)
	}
	return fs
}

func (t *tlsServer) stat() []fileStamp {
	var out []fileStamp
	for _, f := range t.files() {
		st, err := os.Stat(f)
		if err != nil {
			out = append(out, fileStamp{})
			continue
		}
		out = append(out, fileStamp{st.ModTime(), st.Size()})
	}
	return out
}

// load reads the files and builds the configurations.
func (t *tlsServer) load() error {
	stamps := t.stat()
	cert, err := tls.LoadX509KeyPair(t.certFile, t.keyFile)
	if err != nil {
		return fmt.Errorf("%w: TLS certificate %s and key %s: %w", ErrInvalidConfig, t.certFile, t.keyFile, err)
	}
	var pool *x509.CertPool
	if t.caFile != "" {
		pem, err := os.ReadFile(t.caFile)
		if err != nil {
			return fmt.Errorf("%w: TLS client CA file: %w", ErrInvalidConfig, err)
		}
		pool = x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return fmt.Errorf("%w: TLS client CA file %s: no PEM certificates", ErrInvalidConfig, t.caFile)
		}
	}
	base := &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}}
	ssl := base.Clone()
	ssl.ClientAuth, ssl.ClientCAs = t.clientAuth, pool
	t.mu.Lock()
	t.ssl, t.sasl, t.stamps = ssl, base, stamps
	t.nextCheck = t.now().Add(tlsCheckInterval)
	t.mu.Unlock()
	return nil
}

// current returns the configuration for a listener protocol, reloading
// the files first when they changed.
func (t *tlsServer) current(p SecurityProtocol) *tls.Config {
	t.mu.Lock()
	reload := false
	if now := t.now(); !now.Before(t.nextCheck) {
		t.nextCheck = now.Add(tlsCheckInterval)
		stamps := t.stat()
		for i := range stamps {
			if i >= len(t.stamps) || !stamps[i].mod.Equal(t.stamps[i].mod) || stamps[i].size != t.stamps[i].size {
				reload = true
			}
		}
	}
	t.mu.Unlock()
	if reload {
		if err := t.load(); err != nil {
			t.logger.Warn("TLS certificate files changed but cannot be loaded; keeping the previous certificate", "err", err)
			t.mu.Lock()
			t.stamps = t.stat() // retry when they change again
			t.mu.Unlock()
		} else {
			t.logger.Info("reloaded TLS certificate files", "cert", t.certFile)
		}
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if p == ProtocolSSL {
		return t.ssl
	}
	return t.sasl
}

// serverConn wraps an accepted connection of a TLS listener.
func (t *tlsServer) serverConn(nc net.Conn, p SecurityProtocol) net.Conn {
	return tls.Server(nc, &tls.Config{
		MinVersion: tls.VersionTLS12,
		GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) {
			return t.current(p), nil
		},
	})
}

// handshake completes the TLS handshake of a TLS listener's connection and
// sets the principal of an SSL connection from the client certificate.
// false closes the connection.
func (c *conn) handshake() bool {
	tc, ok := c.nc.(*tls.Conn)
	if !ok {
		return true
	}
	ctx, cancel := context.WithTimeout(context.Background(), tlsHandshakeTimeout)
	defer cancel()
	if err := tc.HandshakeContext(ctx); err != nil {
		select {
		case <-c.b.done:
		default:
			c.b.metrics.Listener(c.l.Name).AuthFailed() // as Kafka counts SSL handshake failures
			c.logger.Warn("closing connection: TLS handshake failed", "listener", c.l.Name, "err", err)
		}
		return false
	}
	if c.l.Protocol != ProtocolSSL {
		return true
	}
	certs := tc.ConnectionState().PeerCertificates
	if len(certs) == 0 {
		return true
	}
	dn := auth.SubjectDN(certs[0])
	name, ok := c.b.principals.Map(dn)
	if !ok {
		c.b.metrics.Listener(c.l.Name).AuthFailed()
		c.logger.Warn("closing connection: no ssl.principal.mapping.rules rule matches the client certificate", "subject", dn)
		return false
	}
	c.setPrincipal(auth.Principal{Type: "User", Name: name})
	c.logger.Info("TLS client authenticated by certificate", "subject", dn)
	return true
}

// setPrincipal records who the connection is, for the authorizer and logs.
func (c *conn) setPrincipal(p auth.Principal) {
	c.subj.Principal = p
	c.logger = c.baseLogger.With("principal", p.String())
}

// newListenerConn is a connection accepted on l: TLS listeners wrap it.
func newListenerConn(b *Broker, nc net.Conn, l *listener) *conn {
	if l.Protocol.TLS() {
		nc = b.tls.serverConn(nc, l.Protocol)
	}
	c := newConn(b, nc)
	c.l = l
	if len(b.lns) > 1 {
		c.baseLogger = c.baseLogger.With("listener", l.Name)
		c.logger = c.baseLogger
	}
	return c
}
