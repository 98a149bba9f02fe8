package broker

// SaslHandshake: v0-1
//
// Behaviour:
// * Lists the enabled mechanisms (sasl.enabled.mechanisms) and starts an
//   exchange of the requested one; SaslAuthenticate carries it (sasl.go).
// * A mechanism that is not enabled: UNSUPPORTED_SASL_MECHANISM, logged,
//   and the connection is closed after the response, as Kafka does.
// * On a listener without SASL, or during an exchange:
//   ILLEGAL_SASL_STATE, and the connection is closed.
// * After authentication, a handshake starts a re-authentication (KIP-368),
//   which must use the mechanism of the first authentication.
// * v0: the exchange then goes on in bare size-prefixed SASL tokens, not
//   SaslAuthenticate requests (conn.rawToken), as before Kafka 1.0;
//   kafka-python 2.0 still does this.

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() { register(saslHandshakeKey, 0, 1, handleSaslHandshake) }

func handleSaslHandshake(b *Broker, r *request, req *kmsg.SASLHandshakeRequest) kmsg.Response {
	resp := req.ResponseKind().(*kmsg.SASLHandshakeResponse)
	c := r.c
	resp.SupportedMechanisms = append([]string{}, b.saslMechanisms...)
	s := &c.sasl
	switch {
	case !c.l.Protocol.SASL():
		c.logger.Warn("closing connection: SaslHandshake on a listener without SASL", "listener", c.l.Name, "client_id", r.clientID)
		resp.ErrorCode = kerr.IllegalSaslState.Code
		c.closeAfter = true
		return resp
	case s.exchange != nil:
		c.logger.Warn("closing connection: SaslHandshake during a SASL exchange", "client_id", r.clientID)
		resp.ErrorCode = kerr.IllegalSaslState.Code
		c.closeAfter = true
		return resp
	case !b.mechanismEnabled(req.Mechanism):
		c.logger.Warn("closing connection: unsupported SASL mechanism", "mechanism", req.Mechanism, "enabled", b.saslMechanisms, "client_id", r.clientID)
		resp.ErrorCode = kerr.UnsupportedSaslMechanism.Code
		c.closeAfter = true
		return resp
	case s.authenticated && req.Mechanism != s.mechanism:
		c.logger.Warn("closing connection: re-authentication with another SASL mechanism", "mechanism", req.Mechanism, "previous", s.mechanism)
		resp.ErrorCode = kerr.IllegalSaslState.Code
		c.closeAfter = true
		return resp
	}
	s.exchange = b.newExchange(req.Mechanism)
	s.mechanism = req.Mechanism
	s.raw = r.version == 0
	return resp
}
