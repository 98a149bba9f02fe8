package broker

// SASL on SASL_PLAINTEXT and SASL_SSL listeners, as Kafka's
// SaslServerAuthenticator does it:
//
//	ApiVersions (optional) → SaslHandshake(mechanism) → SaslAuthenticate...
//
// Before authentication only ApiVersions and SaslHandshake are accepted,
// and after a handshake only SaslAuthenticate; any other request closes the
// connection, as Kafka does. A failed authentication is answered with
// SASL_AUTHENTICATION_FAILED after connection.failed.authentication.delay.ms
// and the connection is closed (failures are rate limited per user and per
// address, and unknown SCRAM users look like real ones: saslguard.go); an
// unsupported
// mechanism is answered with UNSUPPORTED_SASL_MECHANISM (listing the
// enabled ones) and the connection is closed. Every failure is logged with
// the mechanism and the user name the client gave.
//
// Mechanisms (sasl.enabled.mechanisms, default SCRAM-SHA-256,SCRAM-SHA-512):
//
// * SCRAM-SHA-256 and SCRAM-SHA-512 against the credentials stored in
//   <data-dir>/credentials.json (meta.Credentials), managed with
//   AlterUserScramCredentials ("sluice user set").
// * PLAIN against the same store: Kafka's PLAIN reads users from JAAS; here
//   the password is checked by deriving the user's SCRAM StoredKey from it
//   (SCRAM-SHA-512 credential if the user has one, else SCRAM-SHA-256), so
//   one "sluice user set" serves both mechanisms and no password is stored.
// * OAUTHBEARER: a signed JWT checked against the JWKS file of
//   sasl.oauthbearer.jwks.endpoint.url (file:///path; Kafka fetches a URL),
//   with sasl.oauthbearer.expected.audience, .expected.issuer,
//   .sub.claim.name (the principal) and .clock.skew.seconds
//   (auth.JWTValidation). The JWKS is read at start-up. With
//   connections.max.reauth.ms > 0 the session ends no later than the token.
//
// Re-authentication (KIP-368): with connections.max.reauth.ms > 0 each
// successful SaslAuthenticate (v1+) reports that session lifetime; a
// connection whose session expired may only re-authenticate (SaslHandshake,
// SaslAuthenticate), any other request closes it. Re-authentication must use
// the same mechanism and yield the same principal.

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice-io/sluice/internal/auth"
)

const (
	saslHandshakeKey    = 17
	saslAuthenticateKey = 36
)

// saslState is a connection's SASL progress.
type saslState struct {
	exchange      saslExchange // in progress after a handshake
	mechanism     string       // of the exchange, or of the last success
	authenticated bool
	raw           bool      // SaslHandshake v0: tokens in bare size-prefixed frames
	expires       time.Time // session end; zero: none
}

// saslMaxReceive bounds a frame before authentication (Kafka's
// sasl.server.max.receive.size), so an unauthenticated client cannot make
// the broker allocate socket.request.max.bytes.
const saslMaxReceive = 524288

// saslStep feeds a client message to the exchange in progress. On success
// with done, the connection is authenticated as User:NAME and life is the
// session lifetime (0: unlimited); on error the failure is logged and the
// exchange is over.
func (c *conn) saslStep(msg []byte, clientID string) (reply []byte, done bool, life time.Duration, err error) {
	s := &c.sasl
	g := &c.b.sg
	now := c.b.cfg.Now()
	addr := c.subj.Host.String()
	var limited bool
	if !g.addrs.allowed(addr, now) {
		// Refused before the credentials are checked (saslguard.go).
		err, limited = ErrAuthAddressRateLimited, true
	} else {
		reply, done, err = s.exchange.step(msg)
	}
	user := s.exchange.user()
	if !limited && (err != nil || done) && user != "" && !g.users.allowed(user, now) {
		// The outcome is not revealed: right or wrong, the attempt fails.
		err, limited = ErrAuthUserRateLimited, true
	}
	if err == nil && done && s.authenticated && c.subj.Principal != (auth.Principal{Type: "User", Name: user}) {
		err = errors.New("re-authentication as another principal (was " + c.subj.Principal.String() + ")")
	}
	if err != nil {
		g.failed.Add(1)
		if limited {
			g.limited.Add(1)
		} else {
			g.users.fail(user, now)
			g.addrs.fail(addr, now)
		}
		c.logger.Warn("closing connection: SASL authentication failed", "mechanism", s.mechanism, "user", user, "reason", err, "client_id", clientID)
		s.exchange, s.raw = nil, false
		c.failedAuthDelay() // connection.failed.authentication.delay.ms
		return nil, false, 0, err
	}
	if !done {
		if e, ok := s.exchange.(*oauthExchange); ok && e.s.Failure() != nil {
			c.logger.Warn("SASL authentication failed: rejecting the OAuth token", "mechanism", s.mechanism, "reason", e.s.Failure(), "client_id", clientID)
		}
		return reply, false, 0, nil
	}
	reauth := s.authenticated
	s.authenticated = true
	s.expires = time.Time{}
	if life = c.b.reauthLifetime(); life > 0 {
		// A session does not outlive its credential (an OAuth token).
		if e, ok := s.exchange.(interface{ expiry() time.Time }); ok && !e.expiry().IsZero() {
			life = max(min(life, e.expiry().Sub(c.b.cfg.Now())), time.Millisecond)
		}
		s.expires = c.b.cfg.Now().Add(life)
	}
	s.exchange, s.raw = nil, false
	if reauth {
		c.logger.Debug("SASL re-authenticated", "mechanism", s.mechanism)
	} else {
		c.setPrincipal(auth.Principal{Type: "User", Name: user})
		c.logger.Info("SASL authenticated", "mechanism", s.mechanism, "client_id", clientID)
	}
	return reply, true, life, nil
}

// rawToken serves one bare SASL token after a SaslHandshake v0 (clients
// before Kafka 1.0, and kafka-python 2.0): the reply goes back in a bare
// size-prefixed frame, an empty one when there is nothing to say; a failure
// closes the connection, as Kafka does for these clients.
func (c *conn) rawToken(tok []byte) bool {
	reply, _, _, err := c.saslStep(tok, "")
	if err != nil {
		return false
	}
	out := binary.BigEndian.AppendUint32(make([]byte, 0, 4+len(reply)), uint32(len(reply)))
	if _, err := c.nc.Write(append(out, reply...)); err != nil {
		c.logReadErr(err)
		return false
	}
	return true
}

// maxFrame is the largest frame the connection accepts now.
func (c *conn) maxFrame() int32 {
	if c.l != nil && c.l.Protocol.SASL() && !c.sasl.authenticated {
		return min(c.maxRequest, saslMaxReceive)
	}
	return c.maxRequest
}

// saslExchange is the server side of one mechanism's exchange.
type saslExchange interface {
	// step consumes a client message; done reports success.
	step(msg []byte) (reply []byte, done bool, err error)
	// user is the user name the client gave, once known.
	user() string
}

// admit decides whether a request may be served in the connection's SASL
// state; false closes the connection.
func (c *conn) admit(key int16) bool {
	if c.l == nil || !c.l.Protocol.SASL() {
		return true
	}
	s := &c.sasl
	if s.authenticated {
		if s.exchange == nil && !s.expires.IsZero() && c.b.cfg.Now().After(s.expires) && key != saslHandshakeKey && key != saslAuthenticateKey {
			c.logger.Warn("closing connection: SASL session expired without re-authentication (connections.max.reauth.ms)", "api", kmsg.NameForKey(key))
			return false
		}
		return true
	}
	switch {
	case s.exchange == nil && (key == apiVersionsKey || key == saslHandshakeKey):
		return true
	case s.exchange != nil && key == saslAuthenticateKey:
		return true
	}
	c.logger.Warn("closing connection: request before SASL authentication completed", "api", kmsg.NameForKey(key), "listener", c.l.Name)
	return false
}

// newExchange starts the server side of an enabled mechanism.
func (b *Broker) newExchange(mechanism string) saslExchange {
	switch mechanism {
	case "PLAIN":
		return &plainExchange{b: b}
	case "OAUTHBEARER":
		return &oauthExchange{auth.NewOAuthBearerServer(b.jwt)}
	}
	m, ok := auth.ScramMechanismByName(mechanism)
	if !ok {
		return nil
	}
	return &scramExchange{auth.NewScramServer(m, func(user string) (auth.ScramCredential, bool) {
		fake := b.fakeScram(m, user) // for known users too: the same work (saslguard.go)
		cr, ok := b.creds.Get(user, m.Name)
		if !ok {
			return fake, false
		}
		return auth.ScramCredential{Salt: cr.Salt, StoredKey: cr.StoredKey, ServerKey: cr.ServerKey, Iterations: cr.Iterations}, ok
	})}
}

func (b *Broker) mechanismEnabled(m string) bool { return slices.Contains(b.saslMechanisms, m) }

// reauthLifetime is connections.max.reauth.ms, or 0.
func (b *Broker) reauthLifetime() time.Duration {
	return b.brokerMs("connections.max.reauth.ms")
}

type oauthExchange struct{ s *auth.OAuthBearerServer }

func (e *oauthExchange) step(msg []byte) ([]byte, bool, error) { return e.s.Step(msg) }
func (e *oauthExchange) user() string                          { return e.s.User() }
func (e *oauthExchange) expiry() time.Time                     { return e.s.Expiry() }

// jwtValidation reads the JWKS file and the sasl.oauthbearer.* configs.
// Only local files are read (file:///path or a path); the file is read at
// start-up.
func (b *Broker) jwtValidation() (*auth.JWTValidation, error) {
	src := b.brokerValue("sasl.oauthbearer.jwks.endpoint.url")
	if src == "" {
		return nil, errors.New("sasl.oauthbearer.jwks.endpoint.url is required (a JWKS file)")
	}
	if strings.HasPrefix(src, "http://") || strings.HasPrefix(src, "https://") {
		return nil, fmt.Errorf("sasl.oauthbearer.jwks.endpoint.url %q: only local files (file:///path) are supported", src)
	}
	data, err := os.ReadFile(strings.TrimPrefix(src, "file://"))
	if err != nil {
		return nil, err
	}
	keys, err := auth.ParseJWKS(data)
	if err != nil {
		return nil, err
	}
	v := &auth.JWTValidation{
		Keys:      keys,
		Issuer:    b.brokerValue("sasl.oauthbearer.expected.issuer"),
		SubClaim:  b.brokerValue("sasl.oauthbearer.sub.claim.name"),
		ClockSkew: time.Duration(b.brokerInt("sasl.oauthbearer.clock.skew.seconds")) * time.Second,
		Now:       b.cfg.Now,
	}
	for _, a := range strings.Split(b.brokerValue("sasl.oauthbearer.expected.audience"), ",") {
		if a = strings.TrimSpace(a); a != "" {
			v.Audience = append(v.Audience, a)
		}
	}
	return v, nil
}

type scramExchange struct{ s *auth.ScramServer }

func (e *scramExchange) step(msg []byte) ([]byte, bool, error) { return e.s.Step(msg) }
func (e *scramExchange) user() string                          { return e.s.User() }

// Errors of PLAIN; all are SASL_AUTHENTICATION_FAILED on the wire.
var (
	errPlainMalformed = errors.New("malformed PLAIN message")
	errPlainAuthzid   = errors.New("authorization id differs from the user name")
)

// plainExchange checks PLAIN's single message against the SCRAM store.
type plainExchange struct {
	b    *Broker
	name string
}

func (e *plainExchange) user() string { return e.name }

func (e *plainExchange) step(msg []byte) ([]byte, bool, error) {
	authzid, user, pass, err := parsePlain(msg)
	if err != nil {
		return nil, false, err
	}
	e.name = user
	if authzid != "" && authzid != user {
		return nil, false, errPlainAuthzid
	}
	for _, m := range []auth.ScramMechanism{auth.ScramSHA512, auth.ScramSHA256} {
		cr, ok := e.b.creds.Get(user, m.Name)
		if !ok {
			continue
		}
		if m.VerifyPassword(auth.ScramCredential{Salt: cr.Salt, StoredKey: cr.StoredKey, ServerKey: cr.ServerKey, Iterations: cr.Iterations}, pass) {
			return nil, true, nil
		}
		return nil, false, auth.ErrScramBadProof
	}
	// Spend the same PBKDF2 as for a real user: no timing oracle.
	auth.ScramSHA256.VerifyPassword(auth.ScramSHA256.FakeCredential(user), pass)
	return nil, false, auth.ErrScramUnknownUser
}

// parsePlain splits RFC 4616's message: [authzid] NUL authcid NUL passwd.
func parsePlain(msg []byte) (authzid, user, pass string, err error) {
	parts := bytes.Split(msg, []byte{0})
	if len(parts) != 3 {
		return "", "", "", errPlainMalformed
	}
	if len(parts[1]) == 0 || len(parts[2]) == 0 || len(parts[1]) > 255 || len(parts[2]) > 255 {
		return "", "", "", errPlainMalformed
	}
	return string(parts[0]), string(parts[1]), string(parts[2]), nil
}
