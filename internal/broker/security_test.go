package broker

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"io"
	"log/slog"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/sluice-io/sluice/internal/auth"
)

// testPKI is a CA made for one test, with files in a temp dir.
type testPKI struct {
	dir    string
	ca     *x509.Certificate
	caKey  *ecdsa.PrivateKey
	caFile string
	serial int64
}

func newTestPKI(t testing.TB) *testPKI {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "sluice test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(der)
	p := &testPKI{dir: t.TempDir(), ca: ca, caKey: key, serial: 1}
	p.caFile = filepath.Join(p.dir, "ca.pem")
	os.WriteFile(p.caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	return p
}

// issue makes a certificate signed by the CA and writes name.pem and
// name.key; server certificates are for 127.0.0.1 and localhost.
func (p *testPKI) issue(t testing.TB, name string, subject pkix.Name, server bool) (certFile, keyFile string, cert tls.Certificate) {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	p.serial++
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(p.serial), Subject: subject,
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature,
	}
	if server {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
		tmpl.IPAddresses = []net.IP{net.ParseIP("127.0.0.1")}
		tmpl.DNSNames = []string{"localhost"}
	} else {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p.ca, &key.PublicKey, p.caKey)
	if err != nil {
		t.Fatal(err)
	}
	kder, _ := x509.MarshalPKCS8PrivateKey(key)
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder})
	certFile, keyFile = filepath.Join(p.dir, name+".pem"), filepath.Join(p.dir, name+".key")
	// Write through temp files so a reloading broker never sees half a file.
	for f, data := range map[string][]byte{certFile: certPEM, keyFile: keyPEM} {
		os.WriteFile(f+".tmp", data, 0o600)
		os.Rename(f+".tmp", f)
	}
	cert, err = tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile, cert
}

func (p *testPKI) clientTLS(certs ...tls.Certificate) *tls.Config {
	pool := x509.NewCertPool()
	pool.AddCert(p.ca)
	return &tls.Config{RootCAs: pool, ServerName: "127.0.0.1", Certificates: certs, MinVersion: tls.VersionTLS12}
}

// logBuf collects a broker's log lines.
type logBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if os.Getenv("SLUICE_TEST_LOG") != "" {
		os.Stderr.Write(p)
	}
	return l.b.Write(p)
}

func (l *logBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// waitLog waits for a log line containing all of parts.
func (l *logBuf) waitLog(t testing.TB, parts ...string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		for _, line := range strings.Split(l.String(), "\n") {
			ok := true
			for _, p := range parts {
				ok = ok && strings.Contains(line, p)
			}
			if ok {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no log line with %q in:\n%s", parts, l.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// recordingAuthz allows everything and remembers who asked.
type recordingAuthz struct {
	mu   sync.Mutex
	seen map[string]bool
}

func (a *recordingAuthz) Authorize(s auth.Subject, _ auth.Operation, _ auth.Resource) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.seen == nil {
		a.seen = map[string]bool{}
	}
	a.seen[s.Principal.String()] = true
	return true
}

func (a *recordingAuthz) saw(p string) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.seen[p]
}

// startSecure starts a broker with cfg's listeners (ports 0) and returns
// it with its log.
func startSecure(t testing.TB, cfg Config) (*testBroker, *logBuf) {
	t.Helper()
	if cfg.DataDir == "" {
		cfg.DataDir = t.TempDir()
	}
	logs := &logBuf{}
	cfg.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	b, err := New(cfg)
	if err != nil {
		t.Fatalf("starting broker: %v", err)
	}
	tb := &testBroker{Broker: b, dir: cfg.DataDir, addr: b.Addr().String(), done: make(chan error, 1)}
	go func() { tb.done <- b.Serve(context.Background()) }()
	t.Cleanup(func() { tb.stop(t) })
	return tb, logs
}

func listenerAddr(tb *testBroker, name string) string { return tb.ListenerAddr(name).String() }

func secClient(t testing.TB, addr string, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(addr), kgo.RetryTimeout(3 * time.Second),
		kgo.RequestRetries(1), kgo.DefaultProduceTopic("sec"), kgo.AllowAutoTopicCreation()}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// produceOne produces a record and returns the error.
func produceOne(t testing.TB, cl *kgo.Client) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return cl.ProduceSync(ctx, &kgo.Record{Value: []byte("secret")}).FirstErr()
}

// requestErr is the error of a metadata request.
func requestErr(cl *kgo.Client) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err := cl.Request(ctx, kmsg.NewPtrMetadataRequest())
	return err
}

// addUser stores SCRAM credentials through a client on a PLAINTEXT listener.
func addUser(t testing.TB, cl *kgo.Client, user, pass string, mechs ...kadm.ScramMechanism) {
	t.Helper()
	var ups []kadm.UpsertSCRAM
	for _, m := range mechs {
		ups = append(ups, kadm.UpsertSCRAM{User: user, Mechanism: m, Iterations: 4096, Password: pass})
	}
	res, err := kadm.NewClient(cl).AlterUserSCRAMs(context.Background(), nil, ups)
	if err == nil {
		err = res.Error()
	}
	if err != nil {
		t.Fatalf("storing credentials of %s: %v", user, err)
	}
}

func TestParseListeners(t *testing.T) {
	ls, err := ParseListeners("PLAINTEXT://127.0.0.1:9092, client://:9094,SSL://[::1]:9093",
		"CLIENT://kafka.example:19094", "CLIENT:SASL_SSL,PLAINTEXT:PLAINTEXT,SSL:SSL")
	if err != nil {
		t.Fatal(err)
	}
	want := []Listener{
		{Name: "PLAINTEXT", Protocol: ProtocolPlaintext, Addr: "127.0.0.1:9092"},
		{Name: "CLIENT", Protocol: ProtocolSASLSSL, Addr: ":9094", Advertised: "kafka.example:19094"},
		{Name: "SSL", Protocol: ProtocolSSL, Addr: "[::1]:9093"},
	}
	if len(ls) != len(want) {
		t.Fatalf("got %+v", ls)
	}
	for i := range want {
		if ls[i] != want[i] {
			t.Errorf("listener %d: got %+v, want %+v", i, ls[i], want[i])
		}
	}
	for _, bad := range [][3]string{
		{"", "", ""},
		{"PLAINTEXT://a:1,PLAINTEXT://b:2", "", ""},
		{"CLIENT://a:1", "", ""}, // not in the default map
		{"PLAINTEXT://a:1", "SSL://b:2", ""},
		{"PLAINTEXT:/a:1", "", ""},
		{"PLAINTEXT://a:1", "", "PLAINTEXT:TLS"},
	} {
		if _, err := ParseListeners(bad[0], bad[1], bad[2]); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

// TestListenersAdvertiseOwnAddress: Metadata and DescribeCluster give each
// client the listener it came in on.
func TestListenersAdvertiseOwnAddress(t *testing.T) {
	tb, logs := startSecure(t, Config{Listeners: []Listener{
		{Name: "INTERNAL", Protocol: ProtocolPlaintext, Addr: "127.0.0.1:0"},
		{Name: "EXTERNAL", Protocol: ProtocolPlaintext, Addr: "127.0.0.1:0", Advertised: "kafka.example:19092"},
	}})
	if tb.Addr().String() != listenerAddr(tb, "INTERNAL") {
		t.Fatalf("Addr %s is not the first listener", tb.Addr())
	}
	for name, wantPort := range map[string]int32{"INTERNAL": int32(tb.ListenerAddr("INTERNAL").(*net.TCPAddr).Port), "EXTERNAL": 19092} {
		cl := secClient(t, listenerAddr(tb, name))
		md := send[*kmsg.MetadataResponse](t, cl, kmsg.NewPtrMetadataRequest())
		if len(md.Brokers) != 1 || md.Brokers[0].Port != wantPort {
			t.Errorf("%s: metadata brokers %+v, want port %d", name, md.Brokers, wantPort)
		}
		dc := kmsg.NewPtrDescribeClusterRequest()
		dc.EndpointType = 1
		dr := send[*kmsg.DescribeClusterResponse](t, cl, dc)
		if len(dr.Brokers) != 1 || dr.Brokers[0].Port != wantPort {
			t.Errorf("%s: describe cluster brokers %+v", name, dr.Brokers)
		}
	}
	logs.waitLog(t, "broker listening", "EXTERNAL://", "PLAINTEXT listener, all operations allowed")
}

func TestTLSListener(t *testing.T) {
	pki := newTestPKI(t)
	cert, key, _ := pki.issue(t, "server", pkix.Name{CommonName: "broker"}, true)
	authz := &recordingAuthz{}
	tb, logs := startSecure(t, Config{
		Listeners:   []Listener{{Name: "SSL", Protocol: ProtocolSSL, Addr: "127.0.0.1:0"}},
		TLSCertFile: cert, TLSKeyFile: key, Authorizer: authz,
	})
	logs.waitLog(t, "broker listening", "SSL://", "TLS certificate")
	cl := secClient(t, tb.addr, kgo.DialTLSConfig(pki.clientTLS()))
	if err := produceOne(t, cl); err != nil {
		t.Fatalf("produce over TLS: %v", err)
	}
	if !authz.saw("User:ANONYMOUS") {
		t.Error("a TLS client without a certificate is not User:ANONYMOUS")
	}

	// A plaintext client fails the handshake, and the broker says why.
	plain := secClient(t, tb.addr, kgo.DialTimeout(2*time.Second))
	if err := plain.Ping(context.Background()); err == nil {
		t.Fatal("plaintext client reached a TLS listener")
	}
	logs.waitLog(t, "TLS handshake failed", "first record does not look like a TLS handshake")

	// TLS 1.1 is refused.
	old := pki.clientTLS()
	old.MaxVersion = tls.VersionTLS11
	old.MinVersion = tls.VersionTLS10
	if c, err := tls.Dial("tcp", tb.addr, old); err == nil {
		c.Close()
		t.Error("TLS 1.1 handshake succeeded")
	}
}

func TestMutualTLSPrincipal(t *testing.T) {
	pki := newTestPKI(t)
	cert, key, _ := pki.issue(t, "server", pkix.Name{CommonName: "broker"}, true)
	_, _, alice := pki.issue(t, "alice", pkix.Name{CommonName: "alice", OrganizationalUnit: []string{"eng"}, Organization: []string{"Example, Inc."}}, false)
	_, _, bob := pki.issue(t, "bob", pkix.Name{CommonName: "bob", Organization: []string{"Other"}}, false)
	authz := &recordingAuthz{}
	tb, logs := startSecure(t, Config{
		Listeners:   []Listener{{Name: "SSL", Protocol: ProtocolSSL, Addr: "127.0.0.1:0"}},
		TLSCertFile: cert, TLSKeyFile: key, TLSClientCAFile: pki.caFile, Authorizer: authz,
		Kafka: map[string]string{
			"ssl.client.auth":             "required",
			"ssl.principal.mapping.rules": `RULE:^CN=(.*?),OU=eng,.*$/$1@eng/U,DEFAULT`,
		},
	})
	cl := secClient(t, tb.addr, kgo.DialTLSConfig(pki.clientTLS(alice)))
	if err := produceOne(t, cl); err != nil {
		t.Fatalf("produce with a client certificate: %v", err)
	}
	if !authz.saw("User:ALICE@ENG") {
		t.Errorf("mapped principal not seen: %v", authz.seen)
	}
	cl2 := secClient(t, tb.addr, kgo.DialTLSConfig(pki.clientTLS(bob)))
	if err := produceOne(t, cl2); err != nil {
		t.Fatal(err)
	}
	if !authz.saw("User:CN=bob,O=Other") {
		t.Errorf("DEFAULT principal not seen: %v", authz.seen)
	}
	// Without a certificate the handshake fails.
	nocert := secClient(t, tb.addr, kgo.DialTLSConfig(pki.clientTLS()), kgo.DialTimeout(2*time.Second))
	if err := nocert.Ping(context.Background()); err == nil {
		t.Fatal("a client without a certificate got in")
	}
	logs.waitLog(t, "TLS handshake failed", "certificate")
}

func TestTLSCertificateReload(t *testing.T) {
	old := tlsCheckInterval
	tlsCheckInterval = 50 * time.Millisecond
	t.Cleanup(func() { tlsCheckInterval = old })
	pki := newTestPKI(t)
	cert, key, _ := pki.issue(t, "server", pkix.Name{CommonName: "first"}, true)
	tb, logs := startSecure(t, Config{
		Listeners:   []Listener{{Name: "SSL", Protocol: ProtocolSSL, Addr: "127.0.0.1:0"}},
		TLSCertFile: cert, TLSKeyFile: key,
	})
	served := func() string {
		c, err := tls.Dial("tcp", tb.addr, pki.clientTLS())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		return c.ConnectionState().PeerCertificates[0].Subject.CommonName
	}
	if cn := served(); cn != "first" {
		t.Fatalf("served %q", cn)
	}
	pki.issue(t, "server", pkix.Name{CommonName: "second"}, true)
	// A distinct modification time, whatever the file system's resolution.
	later := time.Now().Add(time.Hour)
	for _, f := range []string{cert, key} {
		if err := os.Chtimes(f, later, later); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for served() != "second" {
		if time.Now().After(deadline) {
			t.Fatal("the rotated certificate is not served")
		}
		time.Sleep(60 * time.Millisecond)
	}
	logs.waitLog(t, "reloaded TLS certificate files")
}

// saslBroker has a PLAINTEXT listener to manage users and a SASL one.
func saslBroker(t testing.TB, proto SecurityProtocol, kafka map[string]string) (tb *testBroker, logs *logBuf, admin *kgo.Client, pki *testPKI, authz *recordingAuthz) {
	t.Helper()
	return saslBrokerClock(t, proto, kafka, nil)
}

// saslBrokerClock is saslBroker with the broker's clock (nil: time.Now).
func saslBrokerClock(t testing.TB, proto SecurityProtocol, kafka map[string]string, now func() time.Time) (tb *testBroker, logs *logBuf, admin *kgo.Client, pki *testPKI, authz *recordingAuthz) {
	t.Helper()
	cfg := Config{Listeners: []Listener{
		{Name: "PLAINTEXT", Protocol: ProtocolPlaintext, Addr: "127.0.0.1:0"},
		{Name: "SASL", Protocol: proto, Addr: "127.0.0.1:0"},
	}, Kafka: kafka, Now: now}
	if proto.TLS() {
		pki = newTestPKI(t)
		cfg.TLSCertFile, cfg.TLSKeyFile, _ = pki.issue(t, "server", pkix.Name{CommonName: "broker"}, true)
	}
	authz = &recordingAuthz{}
	cfg.Authorizer = authz
	tb, logs = startSecure(t, cfg)
	admin = secClient(t, listenerAddr(tb, "PLAINTEXT"))
	return tb, logs, admin, pki, authz
}

func TestSASLMechanisms(t *testing.T) {
	for _, proto := range []SecurityProtocol{ProtocolSASLPlaintext, ProtocolSASLSSL} {
		t.Run(string(proto), func(t *testing.T) {
			tb, logs, admin, pki, authz := saslBroker(t, proto, map[string]string{"sasl.enabled.mechanisms": "PLAIN,SCRAM-SHA-256,SCRAM-SHA-512"})
			logs.waitLog(t, "broker listening", "SASL mechanisms PLAIN,SCRAM-SHA-256,SCRAM-SHA-512")
			addUser(t, admin, "alice", "alice-secret", kadm.ScramSha256)
			addUser(t, admin, "bob", "bob-secret", kadm.ScramSha512)
			var tlsOpt []kgo.Opt
			if pki != nil {
				tlsOpt = append(tlsOpt, kgo.DialTLSConfig(pki.clientTLS()))
			}
			for name, c := range map[string]struct {
				m    sasl.Mechanism
				user string
			}{
				"PLAIN alice (SHA-256 credential)": {plain.Auth{User: "alice", Pass: "alice-secret"}.AsMechanism(), "alice"},
				"PLAIN bob (SHA-512 credential)":   {plain.Auth{User: "bob", Pass: "bob-secret"}.AsMechanism(), "bob"},
				"SCRAM-SHA-256":                    {scram.Auth{User: "alice", Pass: "alice-secret"}.AsSha256Mechanism(), "alice"},
				"SCRAM-SHA-512":                    {scram.Auth{User: "bob", Pass: "bob-secret"}.AsSha512Mechanism(), "bob"},
			} {
				cl := secClient(t, listenerAddr(tb, "SASL"), append(tlsOpt, kgo.SASL(c.m))...)
				if err := produceOne(t, cl); err != nil {
					t.Errorf("%s: %v", name, err)
				}
				if !authz.saw("User:" + c.user) {
					t.Errorf("%s: principal User:%s not seen by the authorizer", name, c.user)
				}
			}
			logs.waitLog(t, "SASL authenticated", "mechanism=SCRAM-SHA-512", "principal=User:bob")

			for name, c := range map[string]struct {
				m    sasl.Mechanism
				want *kerr.Error
				log  []string
			}{
				"wrong password":       {scram.Auth{User: "alice", Pass: "nope"}.AsSha256Mechanism(), kerr.SaslAuthenticationFailed, []string{"SASL authentication failed", "user=alice", "invalid credentials"}},
				"unknown user":         {scram.Auth{User: "mallory", Pass: "x"}.AsSha512Mechanism(), kerr.SaslAuthenticationFailed, []string{"SASL authentication failed", "user=mallory", "unknown user"}},
				"plain wrong password": {plain.Auth{User: "bob", Pass: "nope"}.AsMechanism(), kerr.SaslAuthenticationFailed, []string{"SASL authentication failed", "mechanism=PLAIN", "user=bob"}},
				"no SHA-512 for alice": {scram.Auth{User: "alice", Pass: "alice-secret"}.AsSha512Mechanism(), kerr.SaslAuthenticationFailed, []string{"user=alice", "mechanism=SCRAM-SHA-512"}},
			} {
				cl := secClient(t, listenerAddr(tb, "SASL"), append(tlsOpt, kgo.SASL(c.m))...)
				err := requestErr(cl)
				if !errors.Is(err, c.want) {
					t.Errorf("%s: got %v, want %v", name, err, c.want)
				}
				logs.waitLog(t, c.log...)
			}
		})
	}
}

func TestSASLUnsupportedMechanismAndState(t *testing.T) {
	tb, logs, admin, _, _ := saslBroker(t, ProtocolSASLPlaintext, nil) // SCRAM only by default
	addUser(t, admin, "alice", "pw", kadm.ScramSha256)
	cl := secClient(t, listenerAddr(tb, "SASL"), kgo.SASL(plain.Auth{User: "alice", Pass: "pw"}.AsMechanism()))
	if err := requestErr(cl); !errors.Is(err, kerr.UnsupportedSaslMechanism) {
		t.Errorf("PLAIN on a SCRAM-only broker: %v", err)
	}
	logs.waitLog(t, "unsupported SASL mechanism", "mechanism=PLAIN")

	// Requests before authentication close the connection.
	conn := rawConn(t, listenerAddr(tb, "SASL"))
	writeRequest(t, conn, 1, kmsg.NewPtrMetadataRequest())
	if _, err := readResponse(conn); err == nil {
		t.Error("metadata before authentication was answered")
	}
	logs.waitLog(t, "request before SASL authentication completed", "api=Metadata")

	// SaslHandshake on a PLAINTEXT listener: ILLEGAL_SASL_STATE.
	hs := kmsg.NewPtrSASLHandshakeRequest()
	hs.Mechanism = "PLAIN"
	resp := send[*kmsg.SASLHandshakeResponse](t, admin, hs)
	if resp.ErrorCode != kerr.IllegalSaslState.Code {
		t.Errorf("handshake on PLAINTEXT: code %d", resp.ErrorCode)
	}
}

// TestSASLHandshakeV0: after a v0 handshake the exchange goes on in bare
// size-prefixed tokens (kafka-python 2.0 does this).
func TestSASLHandshakeV0(t *testing.T) {
	tb, logs, admin, _, _ := saslBroker(t, ProtocolSASLPlaintext, map[string]string{"sasl.enabled.mechanisms": "PLAIN"})
	addUser(t, admin, "alice", "pw", kadm.ScramSha256)
	// SaslHandshake v0: bare tokens follow; a wrong password closes the
	// connection, the right one gets an empty frame and then requests.
	for _, pass := range []string{"bad", "pw"} {
		conn := rawConn(t, listenerAddr(tb, "SASL"))
		hs := kmsg.NewPtrSASLHandshakeRequest()
		hs.Version, hs.Mechanism = 0, "PLAIN"
		writeRequest(t, conn, 1, hs)
		if _, err := readResponse(conn); err != nil {
			t.Fatal(err)
		}
		tok := []byte("\x00alice\x00" + pass)
		conn.Write(append([]byte{0, 0, 0, byte(len(tok))}, tok...))
		reply, err := readResponse(conn)
		if pass == "bad" {
			if err == nil {
				t.Error("v0 PLAIN with a wrong password was answered")
			}
			continue
		}
		if err != nil || len(reply) != 0 {
			t.Fatalf("v0 PLAIN: %v %q", err, reply)
		}
		md := kmsg.NewPtrMetadataRequest()
		md.Version = 1
		writeRequest(t, conn, 2, md)
		if _, err := readResponse(conn); err != nil {
			t.Fatalf("metadata after v0 authentication: %v", err)
		}
	}

	logs.waitLog(t, "SASL authentication failed", "mechanism=PLAIN", "user=alice")
}

// TestSASLReauthentication: with connections.max.reauth.ms the session
// lifetime is reported; franz-go re-authenticates, a client that does not
// is disconnected. The broker's clock runs ahead of the wall clock by
// skew, which the test moves instead of sleeping out a session.
func TestSASLReauthentication(t *testing.T) {
	var skew atomic.Int64
	now := func() time.Time { return time.Now().Add(time.Duration(skew.Load())) }
	tb, logs, admin, _, _ := saslBrokerClock(t, ProtocolSASLPlaintext, map[string]string{"connections.max.reauth.ms": "1500", "sasl.enabled.mechanisms": "PLAIN,SCRAM-SHA-256"}, now)
	addUser(t, admin, "alice", "pw", kadm.ScramSha256)
	cl := secClient(t, listenerAddr(tb, "SASL"), kgo.SASL(scram.Auth{User: "alice", Pass: "pw"}.AsSha256Mechanism()))
	for i := 0; i < 4; i++ {
		if err := produceOne(t, cl); err != nil {
			t.Fatalf("produce %d: %v", i, err)
		}
	}
	// franz-go re-authenticates by its own (wall) clock, before its next
	// request once the lifetime it was told nears its end: keep producing
	// until it has.
	for deadline := time.Now().Add(30 * time.Second); !strings.Contains(logs.String(), "SASL re-authenticated"); {
		if time.Now().After(deadline) {
			t.Fatal("franz-go never re-authenticated")
		}
		if err := produceOne(t, cl); err != nil {
			t.Fatalf("produce: %v", err)
		}
		time.Sleep(50 * time.Millisecond) // polling for the log line
	}

	conn := rawConn(t, listenerAddr(tb, "SASL"))
	hs := kmsg.NewPtrSASLHandshakeRequest()
	hs.Version, hs.Mechanism = 1, "PLAIN"
	writeRequest(t, conn, 1, hs)
	if _, err := readResponse(conn); err != nil {
		t.Fatal(err)
	}
	sa := kmsg.NewPtrSASLAuthenticateRequest()
	sa.Version = 1
	sa.SASLAuthBytes = []byte("\x00alice\x00pw")
	writeRequest(t, conn, 2, sa)
	body, err := readResponse(conn)
	if err != nil {
		t.Fatal(err)
	}
	ar := kmsg.NewPtrSASLAuthenticateResponse()
	ar.Version = 1
	if err := ar.ReadFrom(body[4:]); err != nil || ar.ErrorCode != 0 || ar.SessionLifetimeMillis != 1500 {
		t.Fatalf("authenticate: %v %+v", err, ar)
	}
	md := kmsg.NewPtrMetadataRequest()
	md.Version = 4
	writeRequest(t, conn, 3, md)
	if _, err := readResponse(conn); err != nil {
		t.Fatalf("metadata within the session: %v", err)
	}
	skew.Add(int64(1600 * time.Millisecond)) // past the 1500 ms session
	writeRequest(t, conn, 4, md)
	if _, err := readResponse(conn); err == nil {
		t.Fatal("metadata after the session expired was answered")
	}
	logs.waitLog(t, "SASL session expired")
}

func TestScramCredentialAPIs(t *testing.T) {
	_, _, admin, _, _ := saslBroker(t, ProtocolSASLPlaintext, nil)
	adm := kadm.NewClient(admin)
	ctx := context.Background()
	addUser(t, admin, "alice", "pw", kadm.ScramSha256, kadm.ScramSha512)
	addUser(t, admin, "bob", "pw", kadm.ScramSha512)
	d, err := adm.DescribeUserSCRAMs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(d) != 2 || len(d["alice"].CredInfos) != 2 || d["bob"].CredInfos[0].Mechanism != kadm.ScramSha512 || d["bob"].CredInfos[0].Iterations != 4096 {
		t.Fatalf("describe all: %+v", d)
	}
	d, err = adm.DescribeUserSCRAMs(ctx, "nobody")
	if err != nil || !errors.Is(d["nobody"].Err, kerr.ResourceNotFound) {
		t.Fatalf("describe unknown: %v %+v", err, d)
	}

	req := kmsg.NewPtrAlterUserSCRAMCredentialsRequest()
	up := func(name string, mech int8, iters int32) {
		u := kmsg.NewAlterUserSCRAMCredentialsRequestUpsertion()
		u.Name, u.Mechanism, u.Iterations, u.Salt, u.SaltedPassword = name, mech, iters, []byte("salt"), bytes.Repeat([]byte{1}, 32)
		req.Upsertions = append(req.Upsertions, u)
	}
	del := func(name string, mech int8) {
		dd := kmsg.NewAlterUserSCRAMCredentialsRequestDeletion()
		dd.Name, dd.Mechanism = name, mech
		req.Deletions = append(req.Deletions, dd)
	}
	up("few", 1, 100)
	up("many", 1, 20000)
	up("", 1, 4096)
	up("mech", 9, 4096)
	up("dup", 1, 4096)
	up("dup", 1, 4096)
	del("ghost", 1)
	del("bob", 2)
	up("carol", 2, 8192)
	resp := send[*kmsg.AlterUserSCRAMCredentialsResponse](t, admin, req)
	want := map[string]int16{
		"few": kerr.UnacceptableCredential.Code, "many": kerr.UnacceptableCredential.Code, "": kerr.UnacceptableCredential.Code,
		"mech": kerr.UnsupportedSaslMechanism.Code, "dup": kerr.DuplicateResource.Code, "ghost": kerr.ResourceNotFound.Code,
		"bob": 0, "carol": 0,
	}
	if len(resp.Results) != len(want) {
		t.Fatalf("results %+v", resp.Results)
	}
	for _, r := range resp.Results {
		if r.ErrorCode != want[r.User] {
			t.Errorf("user %q: code %d, want %d", r.User, r.ErrorCode, want[r.User])
		}
	}
	d, _ = adm.DescribeUserSCRAMs(ctx)
	if _, ok := d["bob"]; ok || len(d) != 2 || d["carol"].CredInfos[0].Iterations != 8192 {
		t.Fatalf("after alter: %+v", d)
	}
}

// TestScramCredentialsPersist: credentials survive a restart and only
// derived keys reach the disk.
func TestScramCredentialsPersist(t *testing.T) {
	tb, _, admin, _, _ := saslBroker(t, ProtocolSASLPlaintext, nil)
	dir := tb.dir
	addUser(t, admin, "alice", "very-secret-password", kadm.ScramSha256)
	tb.stop(t)
	raw, err := os.ReadFile(filepath.Join(dir, "credentials.json"))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(raw, []byte("very-secret-password")) || !bytes.Contains(raw, []byte(`"stored_key"`)) {
		t.Fatalf("credentials file: %s", raw)
	}
	st, _ := os.Stat(filepath.Join(dir, "credentials.json"))
	if st.Mode().Perm()&0o077 != 0 {
		t.Errorf("credentials file mode %v", st.Mode())
	}
	tb2, _ := startSecure(t, Config{DataDir: dir, Listeners: []Listener{{Name: "SASL", Protocol: ProtocolSASLPlaintext, Addr: "127.0.0.1:0"}}})
	cl := secClient(t, tb2.addr, kgo.SASL(scram.Auth{User: "alice", Pass: "very-secret-password"}.AsSha256Mechanism()))
	if err := produceOne(t, cl); err != nil {
		t.Fatalf("after restart: %v", err)
	}
}

// writeRequest sends req with header v1 (or v2 for flexible versions).
func writeRequest(t testing.TB, c net.Conn, corr int32, req kmsg.Request) {
	t.Helper()
	var b []byte
	b = append(b, 0, 0, 0, 0)
	b = append(b, byte(req.Key()>>8), byte(req.Key()), byte(req.GetVersion()>>8), byte(req.GetVersion()))
	b = append(b, byte(corr>>24), byte(corr>>16), byte(corr>>8), byte(corr))
	b = append(b, 0, 4, 't', 'e', 's', 't')
	if req.IsFlexible() {
		b = append(b, 0)
	}
	b = req.AppendTo(b)
	n := len(b) - 4
	b[0], b[1], b[2], b[3] = byte(n>>24), byte(n>>16), byte(n>>8), byte(n)
	if _, err := c.Write(b); err != nil {
		t.Fatal(err)
	}
}

// readResponse reads one response frame (correlation id first).
func readResponse(c net.Conn) ([]byte, error) {
	var size [4]byte
	if _, err := io.ReadFull(c, size[:]); err != nil {
		return nil, err
	}
	n := int(size[0])<<24 | int(size[1])<<16 | int(size[2])<<8 | int(size[3])
	body := make([]byte, n)
	_, err := io.ReadFull(c, body)
	return body, err
}
