package cli

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
	"log/slog"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluice-io/sluice/internal/broker"
)

// cliResult is what one run of the sluice command produced.
type cliResult struct {
	args           []string
	code           int
	stdout, stderr string
}

// runCLI runs the sluice command line with in as standard input.
func runCLI(t *testing.T, in string, args ...string) cliResult {
	t.Helper()
	old := stdin
	stdin = strings.NewReader(in)
	defer func() { stdin = old }()
	var out, errb bytes.Buffer
	code := Main(args, &out, &errb)
	return cliResult{args, code, out.String(), errb.String()}
}

// cluster runs client commands against one cluster.
type cluster struct {
	t     *testing.T
	addr  string
	extra []string // flags added to every command
}

// run adds --brokers (and c.extra) to args.
func (c cluster) run(in string, args ...string) cliResult {
	c.t.Helper()
	return runCLI(c.t, in, append(append(args, "--brokers", c.addr), c.extra...)...)
}

// ok runs and fails the test on a non-zero exit.
func (c cluster) ok(in string, args ...string) cliResult {
	c.t.Helper()
	r := c.run(in, args...)
	if r.code != 0 {
		c.t.Fatalf("sluice %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
	}
	return r
}

// fails runs, expects exit code want and a one-line error containing
// each of substrs, and returns the error line.
func (c cluster) fails(want int, in string, args []string, substrs ...string) string {
	c.t.Helper()
	r := c.run(in, args...)
	checkFailure(c.t, r, want, substrs...)
	return r.stderr
}

func checkFailure(t *testing.T, r cliResult, want int, substrs ...string) {
	t.Helper()
	if r.code != want {
		t.Errorf("sluice %s: exit %d, want %d (stderr %q)", strings.Join(r.args, " "), r.code, want, r.stderr)
	}
	lines := strings.Split(strings.TrimSuffix(r.stderr, "\n"), "\n")
	if !strings.HasSuffix(r.stderr, "\n") || len(lines) != 1 || !strings.HasPrefix(lines[0], "sluice ") {
		t.Errorf("sluice %s: want one line 'sluice CMD: reason' on stderr, got %q", strings.Join(r.args, " "), r.stderr)
	}
	for _, s := range substrs {
		if !strings.Contains(r.stderr, s) {
			t.Errorf("sluice %s: stderr %q lacks %q", strings.Join(r.args, " "), r.stderr, s)
		}
	}
}

// startSluice runs a Sluice broker in-process for the test.
func startSluice(t *testing.T) (cluster, *broker.Broker) {
	t.Helper()
	b, err := broker.New(broker.Config{
		Listen:  "127.0.0.1:0",
		DataDir: t.TempDir(),
		Logger:  slog.New(slog.DiscardHandler),
		Kafka:   map[string]string{"group.initial.rebalance.delay.ms": "0"},
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
	return cluster{t: t, addr: b.Addr().String()}, b
}

// startKfake runs franz-go's fake Kafka cluster, standing in for "any
// Kafka broker".
func startKfake(t *testing.T, opts ...kfake.Opt) cluster {
	t.Helper()
	kc, err := kfake.NewCluster(append([]kfake.Opt{
		kfake.NumBrokers(1),
		kfake.BrokerConfigs(map[string]string{"group.initial.rebalance.delay.ms": "0"}),
	}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(kc.Close)
	return cluster{t: t, addr: kc.ListenAddrs()[0]}
}

// supportsGroups reports whether the broker at addr advertises
// FindCoordinator (API key 10), which consumer groups need.
func supportsGroups(t *testing.T, addr string) bool {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	vs, err := kadm.NewClient(cl).ApiVersions(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range vs {
		if v.Err != nil {
			t.Fatal(v.Err)
		}
		if _, ok := v.KeyMaxVersion(10); !ok {
			return false
		}
	}
	return true
}

func TestHelpOnEveryCommand(t *testing.T) {
	r := runCLI(t, "", "help")
	if r.code != 0 || r.stderr != "" {
		t.Fatalf("sluice help: exit %d, stderr %q", r.code, r.stderr)
	}
	for _, cmd := range []string{"serve", "bench", "topic create", "topic list", "topic describe", "topic alter-config", "topic delete", "produce", "consume", "group list", "group describe", "group seek", "group delete", "cluster info"} {
		if !strings.Contains(r.stdout, "sluice "+cmd) {
			t.Errorf("sluice help does not list %q", cmd)
		}
	}

	for _, cmd := range [][]string{
		{"topic"}, {"group"}, {"cluster"},
		{"topic", "create"}, {"topic", "list"}, {"topic", "describe"}, {"topic", "alter-config"}, {"topic", "delete"},
		{"produce"}, {"consume"},
		{"group", "list"}, {"group", "describe"}, {"group", "seek"}, {"group", "delete"},
		{"cluster", "info"},
	} {
		for _, help := range []string{"--help", "-h"} {
			r := runCLI(t, "", append(cmd, help)...)
			name := strings.Join(cmd, " ")
			if r.code != 0 || r.stderr != "" {
				t.Errorf("sluice %s %s: exit %d, stderr %q", name, help, r.code, r.stderr)
			}
			if !strings.Contains(r.stdout, "Usage: sluice "+name) || !strings.Contains(r.stdout, "Examples:") {
				t.Errorf("sluice %s %s: no usage with examples:\n%s", name, help, r.stdout)
			}
			if len(cmd) == 2 && !strings.Contains(r.stdout, "-brokers") {
				t.Errorf("sluice %s %s: connection flags missing:\n%s", name, help, r.stdout)
			}
		}
		// "sluice help CMD" is "sluice CMD --help".
		r := runCLI(t, "", append([]string{"help"}, cmd...)...)
		if r.code != 0 || !strings.Contains(r.stdout, "Usage: sluice "+strings.Join(cmd, " ")) {
			t.Errorf("sluice help %s: exit %d, stdout %q", strings.Join(cmd, " "), r.code, r.stdout)
		}
	}
}

func TestUsageErrorsAreOneLine(t *testing.T) {
	c := cluster{t: t, addr: "127.0.0.1:1"} // never dialled: usage errors come first
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"topic", "create"}, "want one topic NAME"},
		{[]string{"topic", "create", "a", "b"}, "want one topic NAME"},
		{[]string{"topic", "create", "bad name"}, "character"},
		{[]string{"topic", "create", "t", "--partitions", "0"}, "--partitions 0"},
		{[]string{"topic", "create", "t", "--config", "novalue"}, "want KEY=VALUE"},
		{[]string{"topic", "create", "t", "--bogus"}, "flag provided but not defined: -bogus"},
		{[]string{"topic", "list", "--format", "yaml"}, `invalid value "yaml" for flag -format: want table or json`},
		{[]string{"topic", "describe"}, "want one topic NAME"},
		{[]string{"topic", "alter-config", "t"}, "nothing to change"},
		{[]string{"topic", "delete"}, "at least one topic"},
		{[]string{"topic", "frobnicate"}, `unknown command "frobnicate"`},
		{[]string{"produce"}, "want one TOPIC"},
		{[]string{"produce", "t", "--compression", "brotli"}, "--compression"},
		{[]string{"produce", "t", "--acks", "2"}, "--acks"},
		{[]string{"produce", "t", "--key-delimiter", ":", "--format", "%k:%v"}, "do not go together"},
		{[]string{"produce", "t", "--format", "%k%v"}, "literal text between"},
		{[]string{"produce", "t", "--format", "%x"}, "unknown token %x"},
		{[]string{"produce", "t", "--header", "nokey"}, "want KEY=VALUE"},
		{[]string{"produce", "t", "--partition", "-2"}, "--partition"},
		{[]string{"consume"}, "want one TOPIC"},
		{[]string{"consume", "t", "--offset", "middle"}, "want beginning, end, N, -N or @UNIX_MS"},
		{[]string{"consume", "t", "--offset", "@soon"}, "--offset"},
		{[]string{"consume", "t", "--group", "g", "--partition", "1"}, "--partition does not go with --group"},
		{[]string{"consume", "t", "--format", "%q"}, "unknown token %q"},
		{[]string{"consume", "t", "--partition", "x"}, "invalid value"},
		{[]string{"group", "describe"}, "want one GROUP"},
		{[]string{"group", "seek", "g", "--to", "end"}, "--topic is required"},
		{[]string{"group", "seek", "g", "--topic", "t"}, "--to is required"},
		{[]string{"group", "seek", "g", "--topic", "t", "--to", "sideways"}, "--to"},
		{[]string{"group", "delete"}, "at least one GROUP"},
		{[]string{"cluster", "info", "extra"}, `unexpected argument "extra"`},
		{[]string{"topic", "list", "--tls-cert", "c.pem"}, "--tls-cert and --tls-key go together"},
		{[]string{"topic", "list", "--user", "u"}, "--user needs --sasl-mechanism"},
		{[]string{"topic", "list", "--sasl-mechanism", "GSSAPI"}, "--sasl-mechanism"},
		{[]string{"topic", "list", "--sasl-mechanism", "plain"}, "needs --user"},
		{[]string{"topic", "list", "--sasl-mechanism", "PLAIN", "--user", "u"}, "needs a password"},
		{[]string{"topic", "list", "--timeout", "0s"}, "--timeout"},
	} {
		c.fails(2, "", tc.args, tc.want)
	}
	if r := runCLI(t, "", "topic"); r.code != 2 || !strings.Contains(r.stderr, "Usage: sluice topic") {
		t.Errorf("sluice topic: exit %d, stderr %q", r.code, r.stderr)
	}
}

func TestClientFlagsDefaultsAndEnvironment(t *testing.T) {
	parse := func(env map[string]string, args ...string) (*clientFlags, error) {
		c := newCommand(&cmdIO{stdout: &bytes.Buffer{}, getenv: func(k string) string { return env[k] }}, "x", "", true)
		_, err := c.parse(args)
		return c.cf, err
	}
	cf, err := parse(nil)
	if err != nil || strings.Join(cf.seeds, ",") != "127.0.0.1:9092" || cf.clientID != "sluice" || cf.tls {
		t.Fatalf("defaults: %+v, %v", cf, err)
	}
	cf, _ = parse(map[string]string{"SLUICE_BROKERS": "a:1, b:2", "SLUICE_PASSWORD": "pw"}, "--sasl-mechanism", "scram-sha-512", "--user", "u")
	if strings.Join(cf.seeds, ",") != "a:1,b:2" || cf.password != "pw" || cf.mechanism != "SCRAM-SHA-512" {
		t.Errorf("from environment: %+v", cf)
	}
	cf, _ = parse(map[string]string{"SLUICE_BROKERS": "a:1"}, "--brokers", "kafka", "--tls-insecure-skip-verify")
	if strings.Join(cf.seeds, ",") != "kafka:9092" || !cf.tls {
		t.Errorf("flag over environment, default port, TLS implied: %+v", cf)
	}
	if _, err := cf.opts(); err != nil {
		t.Errorf("opts: %v", err)
	}
	cf, _ = parse(nil, "--tls-ca", filepath.Join(t.TempDir(), "missing.pem"))
	if _, err := cf.opts(); err == nil || !strings.Contains(err.Error(), "--tls-ca") {
		t.Errorf("missing CA file: %v", err)
	}
}

func TestUnreachableBroker(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now
	c := cluster{t: t, addr: addr, extra: []string{"--timeout", "3s"}}
	start := time.Now()
	for _, args := range [][]string{
		{"topic", "list"},
		{"produce", "t"},
		{"consume", "t"},
		{"group", "list"},
		{"cluster", "info"},
	} {
		c.fails(1, "x\n", args, "cannot reach "+addr)
	}
	if d := time.Since(start); d > 20*time.Second {
		t.Errorf("failing took %v", d)
	}
}

// TestTLSAndSASL drives the security flags against a kfake cluster that
// requires TLS and SCRAM (Sluice serves PLAINTEXT only so far).
func TestTLSAndSASL(t *testing.T) {
	dir := t.TempDir()
	caFile, serverCert := testCertificates(t, dir)
	for _, mech := range []string{"PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"} {
		t.Run(mech, func(t *testing.T) {
			c := startKfake(t,
				kfake.TLS(&tls.Config{Certificates: []tls.Certificate{serverCert}, MinVersion: tls.VersionTLS12}),
				kfake.EnableSASL(),
				kfake.Superuser(mech, "alice", "s3cret"),
			)
			c.extra = []string{"--tls-ca", caFile, "--sasl-mechanism", mech, "--user", "alice", "--timeout", "5s"}
			t.Setenv("SLUICE_PASSWORD", "s3cret")
			c.ok("", "topic", "create", "secure", "--partitions", "1")
			c.ok("a\nb\n", "produce", "secure")
			if r := c.ok("", "consume", "secure", "--offset", "beginning", "-e"); r.stdout != "a\nb\n" {
				t.Errorf("consumed %q", r.stdout)
			}
			t.Setenv("SLUICE_PASSWORD", "wrong")
			c.fails(1, "", []string{"topic", "list"})
			t.Setenv("SLUICE_PASSWORD", "s3cret")
			// Without TLS the broker does not answer.
			plain := cluster{t: t, addr: c.addr, extra: []string{"--sasl-mechanism", mech, "--user", "alice", "--timeout", "2s"}}
			plain.fails(1, "", []string{"topic", "list"})
			// A CA that did not sign the broker's certificate.
			otherCA, _ := testCertificates(t, t.TempDir())
			bad := cluster{t: t, addr: c.addr, extra: []string{"--tls-ca", otherCA, "--sasl-mechanism", mech, "--user", "alice", "--timeout", "2s"}}
			bad.fails(1, "", []string{"topic", "list"}, "certificate")
		})
	}
}

// testCertificates writes a CA certificate to dir and returns its file and
// a server certificate for 127.0.0.1 signed by it.
func testCertificates(t *testing.T, dir string) (string, tls.Certificate) {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "sluice test CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		KeyUsage:              x509.KeyUsageCertSign,
		BasicConstraintsValid: true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{CommonName: "127.0.0.1"},
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caFile := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	return caFile, tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}
