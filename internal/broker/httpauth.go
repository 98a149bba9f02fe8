package broker

// Authentication of the broker's HTTP listeners (the schema registry,
// registry.go, and the operations listener, http.go), shared so both
// accept the same principals as the Kafka listeners:
//
//   - HTTP basic credentials, checked against the SCRAM credentials as
//     SASL/PLAIN checks them (SCRAM-SHA-512, then SCRAM-SHA-256);
//   - a verified TLS client certificate (ssl.client.auth requested or
//     required), mapped by ssl.principal.mapping.rules;
//   - otherwise ANONYMOUS, but only when no listener uses SASL: with a SASL
//     listener every request needs credentials (401).
//
// Authorization stays with the caller (the broker's authorizer).

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
	"sync"

	"github.com/sluice-io/sluice/internal/auth"
)

// Errors of HTTP authentication.
var (
	errNoCredentials  = errors.New("HTTP basic credentials are required")
	errBadCredentials = errors.New("invalid username or password")
	errUnmappedCert   = errors.New("no ssl.principal.mapping.rules rule matches the client certificate")
)

// httpAuth authenticates requests of one HTTP listener.
type httpAuth struct {
	b    *Broker
	sasl bool // basic auth required (a Kafka listener uses SASL)

	mu       sync.Mutex
	verified map[string]verifiedPassword // user -> last good password
	cacheKey []byte                      // random, per process: the HMAC key of verified sums
}

type verifiedPassword struct {
	sum       []byte // HMAC-SHA-256(cacheKey, mechanism, salt, password)
	storedKey []byte
}

// newHTTPAuth is the authentication of an HTTP listener of b; it needs
// b's listener configuration only (credentials are read per request).
func newHTTPAuth(b *Broker) (*httpAuth, error) {
	a := &httpAuth{b: b, verified: map[string]verifiedPassword{}, cacheKey: make([]byte, 32)}
	if _, err := rand.Read(a.cacheKey); err != nil {
		return nil, fmt.Errorf("HTTP authentication: %w", err)
	}
	for _, l := range b.cfg.listenerConfigs() {
		a.sasl = a.sasl || l.Protocol.SASL()
	}
	return a, nil
}

// httpUsesTLS reports whether b's HTTP listeners use TLS: when any Kafka
// listener does, with the same (reloaded) certificate.
func (b *Broker) httpUsesTLS() bool {
	for _, l := range b.cfg.listenerConfigs() {
		if l.Protocol.TLS() {
			return true
		}
	}
	return false
}

// principal authenticates r.
func (a *httpAuth) principal(r *http.Request) (auth.Principal, error) {
	if user, pass, ok := r.BasicAuth(); ok {
		if !a.checkPassword(user, pass) {
			return auth.Anonymous, fmt.Errorf("%w: user %q", errBadCredentials, user)
		}
		return auth.Principal{Type: "User", Name: user}, nil
	}
	if r.TLS != nil && len(r.TLS.PeerCertificates) > 0 {
		dn := auth.SubjectDN(r.TLS.PeerCertificates[0])
		name, ok := a.b.principals.Map(dn)
		if !ok {
			return auth.Anonymous, fmt.Errorf("%w: %s", errUnmappedCert, dn)
		}
		return auth.Principal{Type: "User", Name: name}, nil
	}
	if a.sasl {
		return auth.Anonymous, errNoCredentials
	}
	return auth.Anonymous, nil
}

// checkPassword verifies a password against the user's SCRAM credentials
// (SCRAM-SHA-512, then SCRAM-SHA-256), as SASL/PLAIN does. A verified
// password is remembered (as a salted hash, with the credential it matched)
// so later requests skip the PBKDF2 until the credential changes.
func (a *httpAuth) checkPassword(user, pass string) bool {
	for _, m := range []auth.ScramMechanism{auth.ScramSHA512, auth.ScramSHA256} {
		cr, ok := a.b.creds.Get(user, m.Name)
		if !ok {
			continue
		}
		mac := hmac.New(sha256.New, a.cacheKey)
		mac.Write([]byte(m.Name))
		mac.Write([]byte{0})
		mac.Write(cr.Salt)
		mac.Write([]byte{0})
		mac.Write([]byte(pass))
		sum := mac.Sum(nil)
		a.mu.Lock()
		v, hit := a.verified[user]
		a.mu.Unlock()
		if hit && hmac.Equal(v.sum, sum) && subtle.ConstantTimeCompare(v.storedKey, cr.StoredKey) == 1 {
			return true
		}
		if !m.VerifyPassword(auth.ScramCredential{Salt: cr.Salt, StoredKey: cr.StoredKey, ServerKey: cr.ServerKey, Iterations: cr.Iterations}, pass) {
			return false
		}
		a.mu.Lock()
		a.verified[user] = verifiedPassword{sum: sum, storedKey: cr.StoredKey}
		a.mu.Unlock()
		return true
	}
	auth.ScramSHA256.VerifyPassword(auth.ScramSHA256.FakeCredential(user), pass) // no timing oracle
	return false
}
