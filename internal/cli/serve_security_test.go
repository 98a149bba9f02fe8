package cli

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sluice-io/sluice/internal/broker"
)

func TestServeListenersAndSecurity(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "server.properties")
	os.WriteFile(file, []byte(`listeners=PLAINTEXT://127.0.0.1:9092,CLIENT://:9094
advertised.listeners=CLIENT://kafka.example:9094
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CLIENT:SASL_SSL
ssl.keystore.type=PEM
ssl.keystore.location=/etc/sluice/server.pem
ssl.truststore.location=/etc/sluice/ca.pem
sasl.enabled.mechanisms=SCRAM-SHA-512
`), 0o644)
	s, err := loadServeConfig([]string{"--config", file}, nil, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	c := s.cfg
	want := []broker.Listener{
		{Name: "PLAINTEXT", Protocol: broker.ProtocolPlaintext, Addr: "127.0.0.1:9092"},
		{Name: "CLIENT", Protocol: broker.ProtocolSASLSSL, Addr: ":9094", Advertised: "kafka.example:9094"},
	}
	if len(c.Listeners) != 2 || c.Listeners[0] != want[0] || c.Listeners[1] != want[1] {
		t.Errorf("listeners %+v", c.Listeners)
	}
	if c.TLSCertFile != "/etc/sluice/server.pem" || c.TLSKeyFile != "/etc/sluice/server.pem" || c.TLSClientCAFile != "/etc/sluice/ca.pem" {
		t.Errorf("TLS files %q %q %q", c.TLSCertFile, c.TLSKeyFile, c.TLSClientCAFile)
	}
	if c.Kafka["ssl.client.auth"] != "required" || c.Kafka["sasl.enabled.mechanisms"] != "SCRAM-SHA-512" {
		t.Errorf("kafka configs %v", c.Kafka)
	}
	for _, k := range []string{"listeners", "advertised.listeners", "listener.security.protocol.map", "ssl.keystore.location", "ssl.keystore.type", "ssl.truststore.location"} {
		if _, ok := c.Kafka[k]; ok {
			t.Errorf("%s left in the Kafka configs", k)
		}
	}

	// The --listen rule: its protocol follows the security flags.
	for _, tc := range []struct {
		args []string
		want broker.SecurityProtocol
	}{
		{[]string{"--listen", "127.0.0.1:1"}, broker.ProtocolPlaintext},
		{[]string{"--listen", "127.0.0.1:1", "--tls-cert", "c", "--tls-key", "k"}, broker.ProtocolSSL},
		{[]string{"--listen", "127.0.0.1:1", "--sasl-mechanisms", "plain"}, broker.ProtocolSASLPlaintext},
		{[]string{"--tls-cert", "c", "--tls-key", "k", "--sasl-mechanisms", "SCRAM-SHA-256"}, broker.ProtocolSASLSSL},
		{[]string{"--config", file, "--listen", "127.0.0.1:1", "--tls-cert", "c", "--tls-key", "k"}, broker.ProtocolSASLSSL}, // the file's mechanisms
	} {
		s, err := loadServeConfig(tc.args, nil, io.Discard)
		if err != nil {
			t.Errorf("%v: %v", tc.args, err)
			continue
		}
		got := broker.ProtocolPlaintext
		if len(s.cfg.Listeners) == 1 {
			got = s.cfg.Listeners[0].Protocol
			if s.cfg.Listeners[0].Addr == "" {
				t.Errorf("%v: empty address", tc.args)
			}
		} else if len(s.cfg.Listeners) > 1 {
			t.Errorf("%v: %d listeners", tc.args, len(s.cfg.Listeners))
		}
		if got != tc.want {
			t.Errorf("%v: protocol %s, want %s", tc.args, got, tc.want)
		}
	}
	env := []string{"SLUICE_TLS_CERT=c", "SLUICE_TLS_KEY=k", "SLUICE_TLS_CLIENT_CA=ca"}
	if s, err := loadServeConfig(nil, env, io.Discard); err != nil || s.cfg.TLSClientCAFile != "ca" || s.cfg.Listeners[0].Protocol != broker.ProtocolSSL {
		t.Errorf("environment: %v %+v", err, s.cfg)
	}

	for _, tc := range []struct {
		args []string
		file string
		want string
	}{
		{[]string{"--tls-cert", "c"}, "", "go together"},
		{nil, "listeners=SASL_SSL://127.0.0.1:1\n", "TLS certificate"},
		{nil, "listeners=X://127.0.0.1:1\n", "listener.security.protocol.map"},
		{nil, "listeners=PLAINTEXT://127.0.0.1:1\nssl.keystore.location=a.jks\nssl.keystore.type=JKS\n", "PEM"},
		{[]string{"--advertised-addr", "a:1"}, "listeners=PLAINTEXT://127.0.0.1:1,SSL://127.0.0.1:2\nssl.keystore.location=k.pem\n", "advertised.listeners"},
	} {
		args := tc.args
		if tc.file != "" {
			f := filepath.Join(t.TempDir(), "p.properties")
			os.WriteFile(f, []byte(tc.file), 0o644)
			args = append(args, "--config", f)
		}
		if _, err := loadServeConfig(args, nil, io.Discard); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v %q: error %v, want %q", tc.args, tc.file, err, tc.want)
		}
	}
}
