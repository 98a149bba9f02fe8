package broker

// Listeners, with Kafka's semantics:
//
//	listeners=PLAINTEXT://127.0.0.1:9092,SASL_SSL://:9094
//	advertised.listeners=PLAINTEXT://localhost:9092,SASL_SSL://kafka.example:9094
//	listener.security.protocol.map=PLAINTEXT:PLAINTEXT,SASL_SSL:SASL_SSL,...
//
// Each listener has a name, a security protocol (looked up by name in the
// protocol map, whose default maps the four protocol names to themselves),
// the address it binds and the address Metadata, DescribeCluster and
// FindCoordinator give to clients that came in on it. An empty host binds
// every interface and is advertised as the machine's host name.

import (
	"errors"
	"fmt"
	"net"
	"os"
	"strings"

	"github.com/sluice-io/sluice/internal/auth"
)

// SecurityProtocol is a Kafka listener security protocol.
type SecurityProtocol string

// Kafka's security protocols.
const (
	ProtocolPlaintext     SecurityProtocol = "PLAINTEXT"
	ProtocolSSL           SecurityProtocol = "SSL"
	ProtocolSASLPlaintext SecurityProtocol = "SASL_PLAINTEXT"
	ProtocolSASLSSL       SecurityProtocol = "SASL_SSL"
)

// TLS reports whether the protocol runs over TLS.
func (p SecurityProtocol) TLS() bool { return p == ProtocolSSL || p == ProtocolSASLSSL }

// SASL reports whether the protocol authenticates with SASL.
func (p SecurityProtocol) SASL() bool { return p == ProtocolSASLPlaintext || p == ProtocolSASLSSL }

// Listener is one named listener.
type Listener struct {
	// Name is the listener name (PLAINTEXT, CLIENT, ...), upper case.
	Name string
	// Protocol is the listener's security protocol.
	Protocol SecurityProtocol
	// Addr is the host:port to bind; an empty host binds all interfaces,
	// port 0 a free port.
	Addr string
	// Advertised is the host:port given to clients that came in on this
	// listener. Default: the bound address.
	Advertised string
}

// DefaultProtocolMap is Kafka's default listener.security.protocol.map.
const DefaultProtocolMap = "SASL_SSL:SASL_SSL,PLAINTEXT:PLAINTEXT,SSL:SSL,SASL_PLAINTEXT:SASL_PLAINTEXT"

// ParseListeners resolves Kafka's listeners, advertised.listeners and
// listener.security.protocol.map (DefaultProtocolMap when empty) into
// listeners, in the order of listeners.
func ParseListeners(listeners, advertised, protocolMap string) ([]Listener, error) {
	if strings.TrimSpace(protocolMap) == "" {
		protocolMap = DefaultProtocolMap
	}
	protos := map[string]SecurityProtocol{}
	for _, kv := range strings.Split(protocolMap, ",") {
		name, proto, ok := strings.Cut(strings.TrimSpace(kv), ":")
		p := SecurityProtocol(strings.ToUpper(strings.TrimSpace(proto)))
		if !ok || name == "" || (p != ProtocolPlaintext && p != ProtocolSSL && p != ProtocolSASLPlaintext && p != ProtocolSASLSSL) {
			return nil, fmt.Errorf("listener.security.protocol.map %q: want NAME:PROTOCOL,... with PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL", protocolMap)
		}
		protos[strings.ToUpper(strings.TrimSpace(name))] = p
	}
	ls, err := splitListeners("listeners", listeners)
	if err != nil {
		return nil, err
	}
	if len(ls) == 0 {
		return nil, errors.New("listeners: no listener given")
	}
	advs, err := splitListeners("advertised.listeners", advertised)
	if err != nil {
		return nil, err
	}
	var out []Listener
	seen := map[string]bool{}
	for _, l := range ls {
		if seen[l.Name] {
			return nil, fmt.Errorf("listeners %q: listener name %s appears twice", listeners, l.Name)
		}
		seen[l.Name] = true
		p, ok := protos[l.Name]
		if !ok {
			return nil, fmt.Errorf("listeners: listener %s has no security protocol in listener.security.protocol.map", l.Name)
		}
		l.Protocol = p
		for _, a := range advs {
			if a.Name == l.Name {
				l.Advertised = a.Addr
			}
		}
		out = append(out, l)
	}
	for _, a := range advs {
		if !seen[a.Name] {
			return nil, fmt.Errorf("advertised.listeners: listener %s is not in listeners", a.Name)
		}
	}
	return out, nil
}

// splitListeners parses NAME://HOST:PORT,... (hosts may be [v6]).
func splitListeners(key, v string) ([]Listener, error) {
	var out []Listener
	for _, part := range strings.Split(v, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		name, addr, ok := strings.Cut(part, "://")
		if !ok || name == "" {
			return nil, fmt.Errorf("%s %q: want NAME://HOST:PORT", key, v)
		}
		if _, _, err := net.SplitHostPort(addr); err != nil {
			return nil, fmt.Errorf("%s %q: %w", key, v, err)
		}
		out = append(out, Listener{Name: strings.ToUpper(name), Addr: addr})
	}
	return out, nil
}

// listener is a bound listener.
type listener struct {
	Listener
	ln        net.Listener
	advertise hostPort
}

// listenerConfigs is the configured listeners, or the single PLAINTEXT
// listener of Listen and AdvertisedAddr.
func (c Config) listenerConfigs() []Listener {
	if len(c.Listeners) > 0 {
		return c.Listeners
	}
	return []Listener{{Name: "PLAINTEXT", Protocol: ProtocolPlaintext, Addr: c.Listen, Advertised: c.AdvertisedAddr}}
}

// validateListeners checks the listeners and what their protocols need.
func (c Config) validateListeners() error {
	names := map[string]bool{}
	for _, l := range c.listenerConfigs() {
		if l.Name == "" || names[l.Name] {
			return fmt.Errorf("%w: listener names must be present and distinct (%q)", ErrInvalidConfig, l.Name)
		}
		names[l.Name] = true
		switch l.Protocol {
		case ProtocolPlaintext, ProtocolSSL, ProtocolSASLPlaintext, ProtocolSASLSSL:
		default:
			return fmt.Errorf("%w: listener %s: unknown security protocol %q", ErrInvalidConfig, l.Name, l.Protocol)
		}
		if _, _, err := net.SplitHostPort(l.Addr); err != nil {
			return fmt.Errorf("%w: listener %s address %q: %w", ErrInvalidConfig, l.Name, l.Addr, err)
		}
		if l.Advertised != "" {
			if _, err := parseHostPort(l.Advertised); err != nil {
				return fmt.Errorf("%w: listener %s advertised address %q: %w", ErrInvalidConfig, l.Name, l.Advertised, err)
			}
		}
		if l.Protocol.TLS() && (c.TLSCertFile == "" || c.TLSKeyFile == "") {
			return fmt.Errorf("%w: listener %s is %s: a TLS certificate and key are needed (--tls-cert, --tls-key or ssl.keystore.location)", ErrInvalidConfig, l.Name, l.Protocol)
		}
	}
	return nil
}

// openListeners binds every listener; on error none stays open.
func (b *Broker) openListeners() error {
	for _, lc := range b.cfg.listenerConfigs() {
		ln, err := net.Listen("tcp", lc.Addr)
		if err != nil {
			b.closeListeners()
			return fmt.Errorf("listening on %s (listener %s): %w", lc.Addr, lc.Name, err)
		}
		l := &listener{Listener: lc, ln: ln}
		b.lns = append(b.lns, l)
		adv := lc.Advertised
		if adv == "" {
			adv = ln.Addr().String()
			if host, port, err := net.SplitHostPort(adv); err == nil {
				if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
					if h, err := os.Hostname(); err == nil {
						adv = net.JoinHostPort(h, port)
					}
				}
			}
		}
		if l.advertise, err = parseHostPort(adv); err != nil {
			b.closeListeners()
			return fmt.Errorf("%w: advertised address of listener %s: %w", ErrInvalidConfig, lc.Name, err)
		}
	}
	return nil
}

func (b *Broker) closeListeners() {
	for _, l := range b.lns {
		l.ln.Close()
	}
}

// secured reports whether any listener uses TLS or SASL.
func (b *Broker) secured() bool {
	for _, l := range b.lns {
		if l.Protocol != ProtocolPlaintext {
			return true
		}
	}
	return false
}

// logListening logs the listeners and the security settings at start-up.
func (b *Broker) logListening() {
	var ls []string
	for _, l := range b.lns {
		ls = append(ls, fmt.Sprintf("%s://%s (advertised %s:%d, %s)", l.Name, l.ln.Addr(), l.advertise.host, l.advertise.port, l.Protocol))
	}
	first := b.lns[0]
	attrs := []any{"addr", first.ln.Addr().String(), "advertised", fmt.Sprintf("%s:%d", first.advertise.host, first.advertise.port),
		"listeners", strings.Join(ls, ", "),
		"data_dir", b.cfg.DataDir, "cluster_id", b.ClusterID(), "node_id", b.cfg.NodeID}
	authz := "all operations allowed (no authorizer configured)"
	if _, allowAll := b.cfg.Authorizer.(auth.AllowAll); !allowAll {
		authz = fmt.Sprintf("authorizer %T", b.cfg.Authorizer)
	}
	if !b.secured() {
		attrs = append(attrs, "security", "PLAINTEXT listener, "+authz)
	} else {
		sec := []string{}
		for _, l := range b.lns {
			if l.Protocol.SASL() {
				sec = append(sec, "SASL mechanisms "+strings.Join(b.saslMechanisms, ","))
				break
			}
		}
		for _, l := range b.lns {
			if l.Protocol.TLS() {
				sec = append(sec, "TLS certificate "+b.cfg.TLSCertFile+", ssl.client.auth="+b.brokerValue("ssl.client.auth"))
				break
			}
		}
		sec = append(sec, authz)
		attrs = append(attrs, "security", strings.Join(sec, "; "))
	}
	b.logger.Info("broker listening", attrs...)
}
