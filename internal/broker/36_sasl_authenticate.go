package broker

// SaslAuthenticate: v0-2
//
// Behaviour:
// * Carries the exchange the preceding SaslHandshake started (sasl.go):
//   SCRAM takes two round trips, PLAIN one.
// * Success sets the connection's principal (User:NAME) for the
//   authorizer; with connections.max.reauth.ms > 0 the session lifetime is
//   reported (v1+) and enforced (KIP-368).
// * Failure (wrong password, unknown user, malformed message):
//   SASL_AUTHENTICATION_FAILED with Kafka's message, which never says
//   whether the user exists; the reason is logged, and the connection is
//   closed after the response.
// * Without a preceding handshake, or on a listener without SASL:
//   ILLEGAL_SASL_STATE, and the connection is closed.

import (
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() { register(saslAuthenticateKey, 0, 2, handleSaslAuthenticate) }

func handleSaslAuthenticate(b *Broker, r *request, req *kmsg.SASLAuthenticateRequest) kmsg.Response {
	resp := req.ResponseKind().(*kmsg.SASLAuthenticateResponse)
	c := r.c
	s := &c.sasl
	if !c.l.Protocol.SASL() || s.exchange == nil {
		c.logger.Warn("closing connection: SaslAuthenticate without a SaslHandshake", "listener", c.l.Name, "client_id", r.clientID)
		resp.ErrorCode = kerr.IllegalSaslState.Code
		c.closeAfter = true
		return resp
	}
	mech := s.mechanism
	reply, done, life, err := c.saslStep(req.SASLAuthBytes, r.clientID)
	if err != nil {
		b.metrics.Listener(c.l.Name).AuthFailed() // nil-safe
		resp.ErrorCode = kerr.SaslAuthenticationFailed.Code
		msg := "Authentication failed during authentication due to invalid credentials with SASL mechanism " + mech
		if mech == "PLAIN" {
			msg = "Authentication failed: Invalid username or password"
		}
		resp.ErrorMessage = &msg
		c.closeAfter = true
		return resp
	}
	resp.SASLAuthBytes = reply
	if resp.SASLAuthBytes == nil {
		resp.SASLAuthBytes = []byte{}
	}
	if done {
		resp.SessionLifetimeMillis = int64(life / time.Millisecond)
	}
	return resp
}
