package broker

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/oauth"
)

// signES256 makes a compact JWS of claims signed by key.
func signES256(t testing.TB, key *ecdsa.PrivateKey, kid string, claims map[string]any) string {
	t.Helper()
	enc := func(v any) string { b, _ := json.Marshal(v); return base64.RawURLEncoding.EncodeToString(b) }
	signed := enc(map[string]string{"alg": "ES256", "typ": "JWT", "kid": kid}) + "." + enc(claims)
	d := crypto.SHA256.New()
	d.Write([]byte(signed))
	r, s, err := ecdsa.Sign(rand.Reader, key, d.Sum(nil))
	if err != nil {
		t.Fatal(err)
	}
	sig := append(r.FillBytes(make([]byte, 32)), s.FillBytes(make([]byte, 32))...)
	return signed + "." + base64.RawURLEncoding.EncodeToString(sig)
}

func writeJWKS(t testing.TB, key *ecdsa.PrivateKey, kid string) string {
	t.Helper()
	b64 := func(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }
	point, err := key.PublicKey.Bytes() // 0x04 || X || Y
	if err != nil || len(point) != 65 {
		t.Fatalf("encoding the public key: %v", err)
	}
	jwks, _ := json.Marshal(map[string]any{"keys": []map[string]string{{
		"kty": "EC", "crv": "P-256", "kid": kid, "use": "sig",
		"x": b64(point[1:33]), "y": b64(point[33:65]),
	}}})
	f := filepath.Join(t.TempDir(), "jwks.json")
	os.WriteFile(f, jwks, 0o600)
	return f
}

func TestSASLOAuthBearer(t *testing.T) {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	jwks := writeJWKS(t, key, "k1")
	tb, logs, _, _, authz := saslBroker(t, ProtocolSASLPlaintext, map[string]string{
		"sasl.enabled.mechanisms":            "OAUTHBEARER,SCRAM-SHA-256",
		"sasl.oauthbearer.jwks.endpoint.url": "file://" + jwks,
		"sasl.oauthbearer.expected.audience": "kafka",
		"connections.max.reauth.ms":          "3600000",
	})
	now := time.Now()
	claims := func(mod func(map[string]any)) map[string]any {
		c := map[string]any{"sub": "svc-orders", "aud": []string{"kafka"}, "iat": now.Unix(), "exp": now.Add(time.Hour).Unix()}
		if mod != nil {
			mod(c)
		}
		return c
	}
	good := signES256(t, key, "k1", claims(nil))
	cl := secClient(t, listenerAddr(tb, "SASL"), kgo.SASL(oauth.Auth{Token: good}.AsMechanism()))
	if err := produceOne(t, cl); err != nil {
		t.Fatalf("valid token: %v", err)
	}
	if !authz.saw("User:svc-orders") {
		t.Errorf("principal User:svc-orders not seen: %v", authz.seen)
	}
	logs.waitLog(t, "SASL authenticated", "mechanism=OAUTHBEARER", "principal=User:svc-orders")

	for name, tok := range map[string]string{
		"expired":        signES256(t, key, "k1", claims(func(c map[string]any) { c["exp"] = now.Add(-time.Hour).Unix() })),
		"badly signed":   signES256(t, other, "k1", claims(nil)),
		"wrong audience": signES256(t, key, "k1", claims(func(c map[string]any) { c["aud"] = "billing" })),
		"unknown kid":    signES256(t, key, "k2", claims(nil)),
		"not a JWT":      "opaque-token",
	} {
		cl := secClient(t, listenerAddr(tb, "SASL"), kgo.SASL(oauth.Auth{Token: tok}.AsMechanism()))
		if err := requestErr(cl); err == nil || errors.Is(err, kerr.UnsupportedSaslMechanism) {
			t.Errorf("%s token: %v", name, err)
		}
	}
	logs.waitLog(t, "rejecting the OAuth token", "token expired")
	logs.waitLog(t, "rejecting the OAuth token", "bad signature")
	logs.waitLog(t, "rejecting the OAuth token", "audience")
}

func TestOAuthBearerNeedsJWKS(t *testing.T) {
	_, err := New(Config{DataDir: t.TempDir(), Logger: testLogger(),
		Listeners: []Listener{{Name: "SASL", Protocol: ProtocolSASLPlaintext, Addr: "127.0.0.1:0"}},
		Kafka:     map[string]string{"sasl.enabled.mechanisms": "OAUTHBEARER"}})
	if !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("OAUTHBEARER without a JWKS: %v", err)
	}
}
