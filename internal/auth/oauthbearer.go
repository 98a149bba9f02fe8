package auth

// OAUTHBEARER (RFC 7628) with signed-JWT validation, as Kafka's
// OAuthBearerValidatorCallbackHandler does it: the token's signature is
// checked against a JWKS (RS256/384/512, ES256/384/512), exp is required,
// nbf and iat are honoured with a clock skew, aud and iss are checked when
// configured, and the principal is the sub claim (or the configured one).
//
// The client's message is
//
//	n,[a=authzid],\x01auth=Bearer <JWT>\x01[key=value\x01]...\x01
//
// A valid token ends the exchange with an empty reply. An invalid one is
// answered, as Kafka does, with a JSON error challenge the client must
// acknowledge with \x01; the exchange then fails.

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	_ "crypto/sha256" // hashes of the JWS algorithms
	_ "crypto/sha512"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"slices"
	"strings"
	"time"
)

// JWKS is a parsed set of public keys, by key id.
type JWKS struct {
	keys map[string]crypto.PublicKey
	any  []crypto.PublicKey // for tokens without kid
}

// ParseJWKS parses a JSON Web Key Set; keys of unsupported types are
// skipped.
func ParseJWKS(data []byte) (*JWKS, error) {
	var set struct {
		Keys []struct {
			Kty, Kid, Use, Crv, N, E, X, Y string
		} `json:"keys"`
	}
	if err := json.Unmarshal(data, &set); err != nil {
		return nil, fmt.Errorf("JWKS: %w", err)
	}
	j := &JWKS{keys: map[string]crypto.PublicKey{}}
	for _, k := range set.Keys {
		if k.Use != "" && k.Use != "sig" {
			continue
		}
		var pub crypto.PublicKey
		switch k.Kty {
		case "RSA":
			n, err1 := base64.RawURLEncoding.DecodeString(k.N)
			e, err2 := base64.RawURLEncoding.DecodeString(k.E)
			if err1 != nil || err2 != nil || len(e) > 4 || len(n) < 256 {
				return nil, fmt.Errorf("JWKS: bad RSA key %q", k.Kid)
			}
			pub = &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: int(new(big.Int).SetBytes(e).Int64())}
		case "EC":
			var curve elliptic.Curve
			switch k.Crv {
			case "P-256":
				curve = elliptic.P256()
			case "P-384":
				curve = elliptic.P384()
			case "P-521":
				curve = elliptic.P521()
			default:
				continue
			}
			x, err1 := base64.RawURLEncoding.DecodeString(k.X)
			y, err2 := base64.RawURLEncoding.DecodeString(k.Y)
			if err1 != nil || err2 != nil {
				return nil, fmt.Errorf("JWKS: bad EC key %q", k.Kid)
			}
			size := (curve.Params().BitSize + 7) / 8
			raw := append([]byte{4}, append(leftPad(x, size), leftPad(y, size)...)...)
			pk, err := ecdsa.ParseUncompressedPublicKey(curve, raw)
			if err != nil {
				return nil, fmt.Errorf("JWKS: EC key %q: %w", k.Kid, err)
			}
			pub = pk
		default:
			continue
		}
		if k.Kid != "" {
			j.keys[k.Kid] = pub
		}
		j.any = append(j.any, pub)
	}
	if len(j.any) == 0 {
		return nil, errors.New("JWKS: no usable signing keys")
	}
	return j, nil
}

func leftPad(b []byte, n int) []byte {
	if len(b) >= n {
		return b
	}
	return append(make([]byte, n-len(b)), b...)
}

// JWTValidation is what a token must satisfy (Kafka's sasl.oauthbearer.*).
type JWTValidation struct {
	Keys      *JWKS
	Audience  []string // expected.audience: one must be in aud, if set
	Issuer    string   // expected.issuer, if set
	SubClaim  string   // sub.claim.name, default "sub"
	ClockSkew time.Duration
	Now       func() time.Time
}

// ValidateJWT checks a compact JWS and returns its principal name and
// expiry.
func (v *JWTValidation) ValidateJWT(token string) (sub string, exp time.Time, err error) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return "", time.Time{}, errors.New("token is not a signed JWT")
	}
	var hdr struct{ Alg, Kid string }
	if err := decodeSegment(parts[0], &hdr); err != nil {
		return "", time.Time{}, fmt.Errorf("token header: %w", err)
	}
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil {
		return "", time.Time{}, errors.New("token signature is not base64url")
	}
	var keys []crypto.PublicKey
	if hdr.Kid != "" {
		if k, ok := v.Keys.keys[hdr.Kid]; ok {
			keys = []crypto.PublicKey{k}
		} else {
			return "", time.Time{}, fmt.Errorf("no key %q in the JWKS", hdr.Kid)
		}
	} else {
		keys = v.Keys.any
	}
	signed := []byte(parts[0] + "." + parts[1])
	if !slices.ContainsFunc(keys, func(k crypto.PublicKey) bool { return verifyJWS(hdr.Alg, k, signed, sig) }) {
		return "", time.Time{}, fmt.Errorf("bad signature (alg %q)", hdr.Alg)
	}
	var claims map[string]any
	if err := decodeSegment(parts[1], &claims); err != nil {
		return "", time.Time{}, fmt.Errorf("token claims: %w", err)
	}
	now := v.Now()
	num := func(name string) (time.Time, bool) {
		f, ok := claims[name].(float64)
		return time.Unix(int64(f), 0), ok
	}
	exp, ok := num("exp")
	switch {
	case !ok:
		return "", time.Time{}, errors.New("token has no exp claim")
	case now.After(exp.Add(v.ClockSkew)):
		return "", time.Time{}, fmt.Errorf("token expired at %s", exp.UTC().Format(time.RFC3339))
	}
	if nbf, ok := num("nbf"); ok && now.Add(v.ClockSkew).Before(nbf) {
		return "", time.Time{}, errors.New("token not valid yet (nbf)")
	}
	if iat, ok := num("iat"); ok && now.Add(v.ClockSkew).Before(iat) {
		return "", time.Time{}, errors.New("token issued in the future (iat)")
	}
	if v.Issuer != "" && claims["iss"] != v.Issuer {
		return "", time.Time{}, fmt.Errorf("issuer %v is not %q", claims["iss"], v.Issuer)
	}
	if len(v.Audience) > 0 {
		var auds []string
		switch a := claims["aud"].(type) {
		case string:
			auds = []string{a}
		case []any:
			for _, x := range a {
				if s, ok := x.(string); ok {
					auds = append(auds, s)
				}
			}
		}
		if !slices.ContainsFunc(auds, func(a string) bool { return slices.Contains(v.Audience, a) }) {
			return "", time.Time{}, fmt.Errorf("audience %v is not among %v", auds, v.Audience)
		}
	}
	claim := v.SubClaim
	if claim == "" {
		claim = "sub"
	}
	sub, _ = claims[claim].(string)
	if strings.TrimSpace(sub) == "" {
		return "", time.Time{}, fmt.Errorf("token has no %s claim", claim)
	}
	return sub, exp, nil
}

func decodeSegment(s string, v any) error {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return errors.New("not base64url")
	}
	return json.Unmarshal(b, v)
}

func verifyJWS(alg string, key crypto.PublicKey, signed, sig []byte) bool {
	var h crypto.Hash
	switch alg {
	case "RS256", "ES256":
		h = crypto.SHA256
	case "RS384", "ES384":
		h = crypto.SHA384
	case "RS512", "ES512":
		h = crypto.SHA512
	default:
		return false // none, HS*, and the rest
	}
	d := h.New()
	d.Write(signed)
	digest := d.Sum(nil)
	switch k := key.(type) {
	case *rsa.PublicKey:
		return alg[0] == 'R' && rsa.VerifyPKCS1v15(k, h, digest, sig) == nil
	case *ecdsa.PublicKey:
		size := (k.Curve.Params().BitSize + 7) / 8
		if alg[0] != 'E' || len(sig) != 2*size {
			return false
		}
		r, s := new(big.Int).SetBytes(sig[:size]), new(big.Int).SetBytes(sig[size:])
		return ecdsa.Verify(k, digest, r, s)
	}
	return false
}

// OAuthBearerServer runs one OAUTHBEARER exchange.
type OAuthBearerServer struct {
	v       *JWTValidation
	step    int
	failure error
	sub     string
	exp     time.Time
}

// NewOAuthBearerServer starts an exchange validating tokens with v.
func NewOAuthBearerServer(v *JWTValidation) *OAuthBearerServer { return &OAuthBearerServer{v: v} }

// User is the token's principal name once validated.
func (s *OAuthBearerServer) User() string { return s.sub }

// Expiry is the validated token's expiry.
func (s *OAuthBearerServer) Expiry() time.Time { return s.exp }

// Failure is why the token was rejected, once the error challenge was sent.
func (s *OAuthBearerServer) Failure() error { return s.failure }

// ErrOAuthBadMessage marks a malformed OAUTHBEARER message.
var ErrOAuthBadMessage = errors.New("malformed OAUTHBEARER message")

// Step consumes the client's message.
func (s *OAuthBearerServer) Step(msg []byte) ([]byte, bool, error) {
	s.step++
	switch {
	case s.step == 2 && s.failure != nil:
		return nil, false, s.failure // the client acknowledged the error challenge
	case s.step != 1:
		return nil, false, fmt.Errorf("%w: unexpected message", ErrOAuthBadMessage)
	}
	token, err := parseOAuthBearer(string(msg))
	if err != nil {
		return nil, false, err
	}
	sub, exp, err := s.v.ValidateJWT(token)
	if err != nil {
		s.failure = fmt.Errorf("invalid token: %w", err)
		return []byte(`{"status":"invalid_token"}`), false, nil
	}
	s.sub, s.exp = sub, exp
	return []byte{}, true, nil
}

// parseOAuthBearer extracts the bearer token of an initial client response.
func parseOAuthBearer(msg string) (string, error) {
	gs2, rest, ok := strings.Cut(msg, "\x01")
	if !ok || !strings.HasPrefix(gs2, "n,") || !strings.HasSuffix(gs2, ",") || !strings.HasSuffix(rest, "\x01\x01") {
		return "", fmt.Errorf("%w: bad framing", ErrOAuthBadMessage)
	}
	var token string
	for _, kv := range strings.Split(strings.TrimSuffix(rest, "\x01\x01"), "\x01") {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return "", fmt.Errorf("%w: bad key-value pair", ErrOAuthBadMessage)
		}
		if k == "auth" {
			t, ok := strings.CutPrefix(v, "Bearer ")
			if !ok || t == "" || token != "" {
				return "", fmt.Errorf("%w: bad auth value", ErrOAuthBadMessage)
			}
			token = t
		}
	}
	if token == "" {
		return "", fmt.Errorf("%w: no auth=Bearer", ErrOAuthBadMessage)
	}
	return token, nil
}
