package cli

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sluice-io/sluice/internal/broker"
)

// startSecureSluice runs a broker with a PLAINTEXT and a SASL_SSL listener
// and returns clusters for each (the second with --tls-ca) .
func startSecureSluice(t *testing.T) (plain, secure cluster) {
	t.Helper()
	dir := t.TempDir()
	caFile, cert := testCertificates(t, dir)
	certFile, keyFile := filepath.Join(dir, "server.pem"), filepath.Join(dir, "server.key")
	kder, err := x509.MarshalPKCS8PrivateKey(cert.PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Certificate[0]}), 0o600)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), 0o600)
	b, err := broker.New(broker.Config{
		Listeners: []broker.Listener{
			{Name: "PLAINTEXT", Protocol: broker.ProtocolPlaintext, Addr: "127.0.0.1:0"},
			{Name: "SECURE", Protocol: broker.ProtocolSASLSSL, Addr: "127.0.0.1:0"},
		},
		TLSCertFile: certFile, TLSKeyFile: keyFile,
		DataDir: t.TempDir(),
		Logger:  slog.New(slog.DiscardHandler),
		Kafka:   map[string]string{"sasl.enabled.mechanisms": "PLAIN,SCRAM-SHA-256,SCRAM-SHA-512"},
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- b.Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		b.Close()
		<-done
	})
	return cluster{t: t, addr: b.Addr().String()},
		cluster{t: t, addr: b.ListenerAddr("SECURE").String(), extra: []string{"--tls-ca", caFile, "--timeout", "5s"}}
}

func TestUserCommands(t *testing.T) {
	plain, secure := startSecureSluice(t)
	if r := plain.ok("", "user", "set", "alice", "--mechanism", "SCRAM-SHA-256", "--password", "s3cret"); r.stdout != "set user alice\n" {
		t.Errorf("user set: %q", r.stdout)
	}
	plain.ok("", "user", "set", "bob", "--password", "bob-pw", "--iterations", "8192")
	r := plain.ok("", "user", "list")
	header, rows := tableRows(t, r.stdout)
	if strings.Join(header, " ") != "USER MECHANISM ITERATIONS" || len(rows) != 3 ||
		strings.Join(rows[0], " ") != "alice SCRAM-SHA-256 4096" || strings.Join(rows[2], " ") != "bob SCRAM-SHA-512 8192" {
		t.Errorf("user list:\n%s", r.stdout)
	}
	var creds []userCredential
	if err := json.Unmarshal([]byte(plain.ok("", "user", "list", "bob", "--format", "json").stdout), &creds); err != nil || len(creds) != 2 {
		t.Errorf("user list json: %v %+v", err, creds)
	}

	// The credentials log clients in over SASL_SSL, with SCRAM and PLAIN.
	t.Setenv("SLUICE_PASSWORD", "s3cret")
	alice := secure
	alice.extra = append(alice.extra, "--sasl-mechanism", "SCRAM-SHA-256", "--user", "alice")
	alice.ok("", "topic", "create", "secure")
	alice.ok("a\nb\n", "produce", "secure")
	if r := alice.ok("", "consume", "secure", "--offset", "beginning", "-e"); r.stdout != "a\nb\n" {
		t.Errorf("consumed %q", r.stdout)
	}
	bob := secure
	bob.extra = append(bob.extra, "--sasl-mechanism", "PLAIN", "--user", "bob", "--sasl-password", "bob-pw")
	// --sasl-password is the connection's password; --password the new one.
	bob.ok("", "user", "set", "carol", "--password", "carol-pw", "--mechanism", "SCRAM-SHA-512")
	carol := secure
	carol.extra = append(carol.extra, "--sasl-mechanism", "SCRAM-SHA-512", "--user", "carol", "--password", "carol-pw")
	carol.ok("", "topic", "list")

	plain.ok("", "user", "delete", "alice")
	alice.fails(1, "", []string{"topic", "list"})
	plain.fails(1, "", []string{"user", "delete", "ghost", "--mechanism", "SCRAM-SHA-256"}, `user "ghost" has no such credential`)
	plain.fails(1, "", []string{"user", "list", "ghost"}, `user "ghost" does not exist`)
	plain.fails(2, "", []string{"user", "set", "dave"}, "--password is required")
	plain.fails(2, "", []string{"user", "set", "dave", "--password", "x", "--mechanism", "MD5"}, "--mechanism")
	plain.fails(2, "", []string{"user", "set", "dave", "--password", "x", "--iterations", "10"}, "--iterations")

	for _, cmd := range []string{"set", "list", "delete"} {
		r := runCLI(t, "", "user", cmd, "--help")
		if r.code != 0 || !strings.Contains(r.stdout, "Usage: sluice user "+cmd) || !strings.Contains(r.stdout, "-sasl-password") {
			t.Errorf("user %s --help: %d %q", cmd, r.code, r.stdout)
		}
	}
}

// TestUserSetOffline: the first user of a SASL-only broker is written into
// its data directory before it starts.
func TestUserSetOffline(t *testing.T) {
	dataDir := t.TempDir()
	r := runCLI(t, "", "user", "set", "admin", "--password", "admin-pw", "--mechanism", "SCRAM-SHA-512", "--data-dir", dataDir)
	if r.code != 0 || r.stdout != "set user admin\n" {
		t.Fatalf("offline user set: %d %q %q", r.code, r.stdout, r.stderr)
	}
	b, err := broker.New(broker.Config{
		Listeners: []broker.Listener{{Name: "SASL", Protocol: broker.ProtocolSASLPlaintext, Addr: "127.0.0.1:0"}},
		DataDir:   dataDir,
		Logger:    slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- b.Serve(ctx) }()
	t.Cleanup(func() { cancel(); b.Close(); <-done })
	c := cluster{t: t, addr: b.Addr().String(), extra: []string{"--sasl-mechanism", "SCRAM-SHA-512", "--user", "admin", "--sasl-password", "admin-pw", "--timeout", "5s"}}
	r = c.ok("", "user", "list")
	if !strings.Contains(r.stdout, "admin  SCRAM-SHA-512  4096") {
		t.Errorf("user list over SASL:\n%s", r.stdout)
	}
}
