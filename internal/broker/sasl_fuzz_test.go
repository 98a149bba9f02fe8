package broker

import (
	"bytes"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice-io/sluice/internal/meta"
)

// FuzzSASLPlain: PLAIN messages parse without panicking, and what parses
// splits back into the message. (The SCRAM exchange is fuzzed in
// internal/auth, FuzzScramServer.)
func FuzzSASLPlain(f *testing.F) {
	f.Add([]byte("\x00alice\x00secret"))
	f.Add([]byte("alice\x00alice\x00secret"))
	f.Add([]byte("\x00\x00"))
	f.Add([]byte("a\x00b\x00c\x00d"))
	f.Fuzz(func(t *testing.T, msg []byte) {
		authzid, user, pass, err := parsePlain(msg)
		if err != nil {
			return
		}
		if user == "" || pass == "" {
			t.Fatalf("empty user or password accepted: %q", msg)
		}
		if !bytes.Equal([]byte(authzid+"\x00"+user+"\x00"+pass), msg) {
			t.Fatalf("parse of %q does not round-trip", msg)
		}
	})
}

// FuzzUnauthenticatedFrame feeds arbitrary frames to a fresh connection of
// a SASL listener: nothing but ApiVersions, SaslHandshake and
// SaslAuthenticate may be served, and no frame may authenticate it.
func FuzzUnauthenticatedFrame(f *testing.F) {
	formatter := kmsg.NewRequestFormatter(kmsg.FormatterClientID("fuzz"))
	hs := kmsg.NewPtrSASLHandshakeRequest()
	hs.Version, hs.Mechanism = 1, "SCRAM-SHA-256"
	f.Add(formatter.AppendRequest(nil, hs, 1)[4:], []byte("n,,n=alice,r=abc"))
	f.Add(formatter.AppendRequest(nil, kmsg.NewPtrMetadataRequest(), 1)[4:], []byte{})
	tb, _ := startSecure(f, Config{Listeners: []Listener{{Name: "SASL", Protocol: ProtocolSASLPlaintext, Addr: "127.0.0.1:0"}},
		Kafka: map[string]string{"sasl.enabled.mechanisms": "PLAIN,SCRAM-SHA-256,SCRAM-SHA-512"}})
	tb.creds.Alter([]meta.CredentialChange{{User: "alice", Mechanism: "SCRAM-SHA-256",
		Cred: meta.ScramCredential{Salt: []byte("salt"), StoredKey: []byte("k"), ServerKey: []byte("k"), Iterations: 4096}}})
	f.Fuzz(func(t *testing.T, first, token []byte) {
		c := newConn(tb.Broker, discardConn{})
		var key int16
		if len(first) >= 2 {
			key = int16(first[0])<<8 | int16(first[1])
		}
		keep := c.handleFrame(first)
		if keep && key != apiVersionsKey && key != saslHandshakeKey {
			t.Fatalf("API key %d served before authentication", key)
		}
		if keep && c.sasl.raw {
			c.rawToken(token)
		} else if keep && c.sasl.exchange != nil {
			sa := kmsg.NewPtrSASLAuthenticateRequest()
			sa.SASLAuthBytes = token
			c.handleFrame(formatter.AppendRequest(nil, sa, 2)[4:])
		}
		if c.sasl.authenticated {
			t.Fatalf("authenticated by %q then %q", first, token)
		}
	})
}
