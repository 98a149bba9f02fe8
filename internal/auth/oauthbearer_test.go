package auth

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"math/big"
	"strings"
	"testing"
	"time"
)

func rsaToken(t testing.TB, key *rsa.PrivateKey, alg string, claims map[string]any) string {
	enc := func(v any) string { b, _ := json.Marshal(v); return base64.RawURLEncoding.EncodeToString(b) }
	signed := enc(map[string]string{"alg": alg}) + "." + enc(claims)
	d := crypto.SHA256.New()
	d.Write([]byte(signed))
	sig, err := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, d.Sum(nil))
	if err != nil {
		t.Fatal(err)
	}
	return signed + "." + base64.RawURLEncoding.EncodeToString(sig)
}

func rsaJWKS(t testing.TB, key *rsa.PrivateKey) *JWKS {
	b64 := func(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }
	data, _ := json.Marshal(map[string]any{"keys": []map[string]string{
		{"kty": "RSA", "n": b64(key.N.Bytes()), "e": b64(big.NewInt(int64(key.E)).Bytes())},
		{"kty": "oct", "k": "c2VjcmV0"}, // skipped
	}})
	j, err := ParseJWKS(data)
	if err != nil {
		t.Fatal(err)
	}
	return j
}

func TestOAuthBearerRS256(t *testing.T) {
	key, _ := rsa.GenerateKey(rand.Reader, 2048)
	now := time.Unix(1_800_000_000, 0)
	v := &JWTValidation{Keys: rsaJWKS(t, key), Issuer: "idp", SubClaim: "client_id", ClockSkew: 30 * time.Second, Now: func() time.Time { return now }}
	claims := map[string]any{"client_id": "svc", "iss": "idp", "exp": now.Add(time.Minute).Unix()}
	msg := func(tok string) []byte { return []byte("n,,\x01auth=Bearer " + tok + "\x01\x01") }

	s := NewOAuthBearerServer(v)
	if reply, done, err := s.Step(msg(rsaToken(t, key, "RS256", claims))); err != nil || !done || len(reply) != 0 || s.User() != "svc" {
		t.Fatalf("valid token: %q %v %v %q", reply, done, err, s.User())
	}
	// alg none and HS256 are refused whatever the signature.
	for _, alg := range []string{"none", "HS256", "RS512"} {
		s := NewOAuthBearerServer(v)
		reply, done, err := s.Step(msg(rsaToken(t, key, alg, claims)))
		if err != nil || done || !strings.Contains(string(reply), "invalid_token") {
			t.Fatalf("%s: %q %v %v", alg, reply, done, err)
		}
		if _, _, err := s.Step([]byte("\x01")); err == nil {
			t.Fatalf("%s: accepted", alg)
		}
	}
	claims["iss"] = "other"
	if _, _, err := v.ValidateJWT(rsaToken(t, key, "RS256", claims)); err == nil {
		t.Error("wrong issuer accepted")
	}
	for _, bad := range []string{"", "n,,", "n,,\x01auth=Basic x\x01\x01", "n,,\x01x=y\x01\x01", "p=x,\x01auth=Bearer t\x01\x01", "n,,\x01auth=Bearer t\x01"} {
		if _, _, err := NewOAuthBearerServer(v).Step([]byte(bad)); !errors.Is(err, ErrOAuthBadMessage) {
			t.Errorf("%q: %v", bad, err)
		}
	}
}

// FuzzOAuthBearer: no message makes the server panic or accept a token
// without a valid signature.
func FuzzOAuthBearer(f *testing.F) {
	key, _ := rsa.GenerateKey(rand.Reader, 2048)
	v := &JWTValidation{Keys: rsaJWKS(f, key), Now: time.Now}
	f.Add([]byte("n,,\x01auth=Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4IiwiZXhwIjo5OTk5OTk5OTk5fQ.\x01\x01"))
	f.Add([]byte("n,a=u,\x01host=h\x01auth=Bearer a.b.c\x01\x01"))
	f.Fuzz(func(t *testing.T, msg []byte) {
		if _, done, _ := NewOAuthBearerServer(v).Step(msg); done {
			t.Fatalf("accepted %q", msg)
		}
	})
}
