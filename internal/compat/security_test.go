package compat

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// writeCertificates writes ca.pem, server.pem and server.key (for
// 127.0.0.1 and localhost) into dir.
func writeCertificates(t *testing.T, dir string) (ca, cert, key string) {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "sluice compat CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, _ := x509.ParseCertificate(caDER)
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "localhost"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, DNSNames: []string{"localhost"}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &k.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	kder, _ := x509.MarshalPKCS8PrivateKey(k)
	ca, cert, key = filepath.Join(dir, "ca.pem"), filepath.Join(dir, "server.pem"), filepath.Join(dir, "server.key")
	os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}), 0o600)
	os.WriteFile(cert, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(key, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), 0o600)
	return ca, cert, key
}

// secureServer is a sluice process with PLAINTEXT (for 'sluice user'),
// SASL_SSL and SASL_PLAINTEXT listeners, from a Kafka-style config file.
type secureServer struct {
	*server
	saslSSL, saslPlain, ca string
}

func startSecureServer(t *testing.T) *secureServer {
	t.Helper()
	dir := t.TempDir()
	ca, cert, key := writeCertificates(t, dir)
	plain, ssl, sp := freePort(t), freePort(t), freePort(t)
	cfg := filepath.Join(dir, "server.properties")
	os.WriteFile(cfg, []byte(fmt.Sprintf(`listeners=PLAINTEXT://%s,SASL_SSL://%s,SASL_PLAINTEXT://%s
sasl.enabled.mechanisms=PLAIN,SCRAM-SHA-256,SCRAM-SHA-512
ssl.keystore.type=PEM
`, plain, ssl, sp)), 0o600)
	s := &server{t: t, addr: plain, dir: t.TempDir()}
	s.startWith([]string{"serve", "--config", cfg, "--data-dir", s.dir, "--tls-cert", cert, "--tls-key", key})
	t.Cleanup(func() { s.stop() })
	for _, u := range [][3]string{{"alice", "SCRAM-SHA-256,SCRAM-SHA-512", "alice-secret"}, {"bob", "SCRAM-SHA-512", "bob-secret"}} {
		out, err := exec.Command(sluiceBin, "user", "set", u[0], "--mechanism", u[1], "--password", u[2], "--brokers", plain).CombinedOutput()
		if err != nil {
			t.Fatalf("sluice user set %s: %v\n%s", u[0], err, out)
		}
	}
	return &secureServer{server: s, saslSSL: ssl, saslPlain: sp, ca: ca}
}

// startWith runs sluice with args (instead of start's --listen) and waits
// until s.addr accepts.
func (s *server) startWith(args []string) {
	s.t.Helper()
	s.cmd = exec.Command(sluiceBin, withRegistryOff(args)...)
	s.cmd.Stderr = &lockedWriter{s: s}
	s.exited = make(chan struct{})
	if err := s.cmd.Start(); err != nil {
		s.t.Fatal(err)
	}
	go func() { s.cmd.Wait(); close(s.exited) }()
	if !waitStarted(s.t, []string{s.addr}, s.logs, s.exited, 20*time.Second) {
		s.t.Fatalf("sluice exited during start-up:\n%s", s.logs())
	}
}

type lockedWriter struct{ s *server }

func (w *lockedWriter) Write(p []byte) (int, error) {
	w.s.mu.Lock()
	defer w.s.mu.Unlock()
	return w.s.stderr.Write(p)
}

// waitLog waits for a broker log line containing all of parts.
func (s *server) waitLog(parts ...string) {
	s.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		for _, l := range strings.Split(s.logs(), "\n") {
			ok := true
			for _, p := range parts {
				ok = ok && strings.Contains(l, p)
			}
			if ok {
				return
			}
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("no log line with %q:\n%s", parts, s.logs())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestKcatSASLSSLSCRAM(t *testing.T) {
	kcat := tool(t, "kcat")
	s := startSecureServer(t)
	s.waitLog("broker listening", "SASL_SSL://", "SASL mechanisms PLAIN,SCRAM-SHA-256,SCRAM-SHA-512")
	ctx := ctxT(t, 60*time.Second)
	for _, c := range []struct{ mech, user, pass string }{{"SCRAM-SHA-256", "alice", "alice-secret"}, {"SCRAM-SHA-512", "bob", "bob-secret"}} {
		sec := []string{"-b", s.saslSSL, "-X", "security.protocol=SASL_SSL", "-X", "sasl.mechanisms=" + c.mech,
			"-X", "sasl.username=" + c.user, "-X", "sasl.password=" + c.pass, "-X", "ssl.ca.location=" + s.ca}
		topic := "kc-" + strings.ToLower(c.mech)
		var in strings.Builder
		for i := range 50 {
			fmt.Fprintf(&in, "k%d:v%d\n", i, i)
		}
		run(t, ctx, in.String(), kcat, append(sec, "-P", "-t", topic, "-K:", "-X", "acks=all")...)
		out := run(t, ctx, "", kcat, append(sec, "-C", "-t", topic, "-o", "beginning", "-e", "-f", "%k=%s\n")...)
		if lines := strings.Split(strings.TrimSpace(out), "\n"); len(lines) != 50 || lines[0] != "k0=v0" {
			t.Fatalf("%s: consumed:\n%s", c.mech, out)
		}
		meta := run(t, ctx, "", kcat, append(sec, "-L", "-t", topic)...)
		if !strings.Contains(meta, "at "+s.saslSSL) {
			t.Errorf("%s: metadata does not advertise the SASL_SSL listener:\n%s", c.mech, meta)
		}
	}
	s.waitLog("SASL authenticated", "mechanism=SCRAM-SHA-512", "principal=User:bob")

	// A wrong password fails, and the broker says so.
	cmd := exec.CommandContext(ctx, kcat, "-b", s.saslSSL, "-X", "security.protocol=SASL_SSL", "-X", "sasl.mechanisms=SCRAM-SHA-256",
		"-X", "sasl.username=alice", "-X", "sasl.password=wrong", "-X", "ssl.ca.location="+s.ca, "-L", "-m", "5")
	if out, err := cmd.CombinedOutput(); err == nil || !strings.Contains(string(out), "Authentication failed") {
		t.Errorf("kcat with a wrong password: %v\n%s", err, out)
	}
	s.waitLog("SASL authentication failed", "user=alice", "invalid credentials")

	// A plaintext client on the TLS listener.
	cmd = exec.CommandContext(ctx, kcat, "-b", s.saslSSL, "-L", "-m", "3")
	if out, err := cmd.CombinedOutput(); err == nil {
		t.Errorf("kcat without TLS reached the SASL_SSL listener:\n%s", out)
	}
	s.waitLog("TLS handshake failed")
}

func TestConfluentKafkaSASLSSLSCRAM(t *testing.T) {
	py := systemPython(t, "confluent_kafka")
	s := startSecureServer(t)
	for _, c := range []struct{ mech, user, pass string }{{"SCRAM-SHA-256", "alice", "alice-secret"}, {"SCRAM-SHA-512", "bob", "bob-secret"}} {
		out := run(t, ctxT(t, 120*time.Second), "", py, "testdata/ck_sasl.py", s.saslSSL, s.ca, c.mech, c.user, c.pass)
		var res struct {
			Acked            int
			Seen             [][2]string
			Errors           []string
			BadPasswordError *string `json:"bad_password_error"`
		}
		if err := json.Unmarshal([]byte(out), &res); err != nil {
			t.Fatalf("%v:\n%s", err, out)
		}
		if res.Acked != 100 || len(res.Seen) != 100 || len(res.Errors) > 0 || res.Seen[99] != [2]string{"k99", "v99"} {
			t.Errorf("%s: acked %d, seen %d, errors %v", c.mech, res.Acked, len(res.Seen), res.Errors)
		}
		if res.BadPasswordError == nil || *res.BadPasswordError != "_AUTHENTICATION" {
			t.Errorf("%s: wrong password gave %q", c.mech, deref(res.BadPasswordError))
		}
	}
	s.waitLog("SASL authenticated", "mechanism=SCRAM-SHA-256", "principal=User:alice")
}

func TestKafkaPythonSASLPlain(t *testing.T) {
	py := systemPython(t, "kafka")
	s := startSecureServer(t)
	out := run(t, ctxT(t, 120*time.Second), "", py, "testdata/kp_sasl.py", s.saslPlain, "bob", "bob-secret")
	var res struct {
		Acked            []int64
		Seen             [][2]string
		BadPasswordError string `json:"bad_password_error"`
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("%v:\n%s", err, out)
	}
	if len(res.Acked) != 50 || len(res.Seen) != 50 || res.Seen[0] != [2]string{"k0", "v0"} {
		t.Errorf("acked %d, seen %d", len(res.Acked), len(res.Seen))
	}
	if res.BadPasswordError == "connected" || res.BadPasswordError == "" {
		t.Errorf("wrong password: %q", res.BadPasswordError)
	}
	s.waitLog("SASL authenticated", "mechanism=PLAIN", "principal=User:bob")
	s.waitLog("SASL authentication failed", "mechanism=PLAIN", "user=bob")
}

func deref(s *string) string {
	if s == nil {
		return "<nil>"
	}
	return *s
}
