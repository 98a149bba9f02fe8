package cli

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sluice-io/sluice/internal/broker"
)

// The registry flags reach an HTTPS registry that wants basic auth (the
// broker's registry when a listener is SASL_SSL): --registry-tls-ca,
// --registry-user and the password from the environment.
func TestSchemaTLSAndBasicAuth(t *testing.T) {
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
		RegistryListen: "127.0.0.1:0",
		TLSCertFile:    certFile, TLSKeyFile: keyFile,
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
	plain := cluster{t: t, addr: b.Addr().String()}
	plain.ok("", "user", "set", "alice", "--password", "s3cret")
	url := "https://" + b.RegistryAddr().String()
	schema := writeFile(t, "s.avsc", `"string"`)

	t.Setenv("SLUICE_REGISTRY", url)
	t.Setenv("SLUICE_REGISTRY_PASSWORD", "s3cret")
	ok := func(args ...string) cliResult {
		t.Helper()
		r := runCLI(t, "", args...)
		if r.code != 0 {
			t.Fatalf("sluice %s: exit %d %q", strings.Join(args, " "), r.code, r.stderr)
		}
		return r
	}
	ok("schema", "register", "s-value", "--schema", schema, "--registry-tls-ca", caFile, "--registry-user", "alice")
	t.Setenv("SLUICE_REGISTRY_USER", "alice")
	if r := ok("schema", "list", "--registry-tls-ca", caFile); !strings.Contains(r.stdout, "s-value") {
		t.Fatalf("list over HTTPS: %q", r.stdout)
	}
	// A wrong password: the registry's 401, one line.
	t.Setenv("SLUICE_REGISTRY_PASSWORD", "wrong")
	checkFailure(t, runCLI(t, "", "schema", "list", "--registry-tls-ca", caFile), 1, "(error 40101)")
	t.Setenv("SLUICE_REGISTRY_PASSWORD", "s3cret")
	// Without the CA the certificate is not trusted.
	checkFailure(t, runCLI(t, "", "schema", "list"), 1, "certificate")
	checkFailure(t, runCLI(t, "", "schema", "list", "--registry-tls-ca", filepath.Join(dir, "missing.pem")), 1, "--registry-tls-ca")
	checkFailure(t, runCLI(t, "", "schema", "list", "--registry-tls-cert", certFile), 2, "--registry-tls-cert and --registry-tls-key go together")
	// produce and consume take the same flags.
	plain.ok(`"hello"`+"\n", "produce", "s", "--value-schema", "s-value", "--registry-tls-ca", caFile)
	if r := plain.ok("", "consume", "s", "--offset", "beginning", "-e", "--decode", "value", "--registry-tls-ca", caFile); r.stdout != `"hello"`+"\n" {
		t.Fatalf("consume --decode over HTTPS: %q", r.stdout)
	}
}

func TestSchemaHelp(t *testing.T) {
	for _, sub := range []string{"register", "list", "get", "delete", "check", "config"} {
		r := runCLI(t, "", "schema", sub, "--help")
		if r.code != 0 || !strings.Contains(r.stdout, "Usage: sluice schema "+sub) || !strings.Contains(r.stdout, "Examples:") ||
			!strings.Contains(r.stdout, "-registry") || !strings.Contains(r.stdout, "-format") {
			t.Errorf("sluice schema %s --help: exit %d\n%s", sub, r.code, r.stdout)
		}
	}
	if r := runCLI(t, "", "schema"); r.code != 2 || !strings.Contains(r.stderr, "Commands:") {
		t.Errorf("sluice schema: exit %d %q", r.code, r.stderr)
	}
	for _, cmd := range []string{"produce", "consume"} {
		r := runCLI(t, "", cmd, "--help")
		if !strings.Contains(r.stdout, "-registry") {
			t.Errorf("sluice %s --help lacks the registry flags", cmd)
		}
	}
}
