package broker

// The web console's view of the broker (internal/console): it reads and
// changes state by Kafka requests served in-process, through the same
// handlers as on a connection and with the HTTP request's authenticated
// subject as the principal, so ACLs, validation and error codes are
// Kafka's. Only the APIs the console uses are served; none waits (fetches
// are sent with MaxWaitMillis 0 by the console, and a long poll is capped
// by the HTTP request anyway). Console requests are not counted in the
// request metrics or quotas, which describe Kafka clients.

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/twmb/franz-go/pkg/kbin"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice-io/sluice/internal/auth"
	"github.com/sluice-io/sluice/internal/console"
	"github.com/sluice-io/sluice/internal/metrics"
)

// consoleAPIs are the API keys the console may send.
var consoleAPIs = map[int16]bool{
	0: true, 1: true, 2: true, 3: true, 8: true, 9: true, 15: true, 16: true, 19: true, 20: true,
	21: true, 32: true, 33: true, 35: true, 37: true, 42: true, 44: true, 47: true, 60: true, 69: true,
	// The security page (ACLs, client quotas, SCRAM users) and the
	// transactions page.
	29: true, 30: true, 31: true, 48: true, 49: true, 50: true, 51: true, 61: true, 65: true, 66: true,
}

// consoleBackend implements console.Backend for b. Its metricsSource
// computes group lag as /metrics does (metrics.go), with a timestamp cache
// of its own.
type consoleBackend struct {
	b   *Broker
	src *metricsSource
}

// mountConsole serves the web console at / on the operations listener.
func (b *Broker) mountConsole() {
	if b.ops == nil || b.cfg.NoConsole {
		return
	}
	h := console.New(console.Options{Backend: consoleBackend{b: b, src: &metricsSource{b: b}}, Logger: b.logger.With("component", "console"), Now: b.cfg.Now})
	b.ops.console = h // closed by closeOps (it owns a sampling goroutine)
	b.HandleHTTP("/", h)
}

// ready is nil once Serve has the listeners accepting (/readyz is 200):
// the console needs them (b.lns), and reading the readiness orders its
// reads after their set-up.
func (cb consoleBackend) ready() error {
	if p := cb.b.ops.notReady.Load(); p != nil {
		return fmt.Errorf("%w: %s", console.ErrNotReady, *p)
	}
	return nil
}

func (cb consoleBackend) Info() console.Info {
	b := cb.b
	in := console.Info{NodeID: b.cfg.NodeID, ClusterID: b.ClusterID()}
	if a := b.HTTPAddr(); a != nil {
		in.HTTPAddr = a.String()
	}
	if cb.ready() != nil {
		return in
	}
	for _, l := range b.lns {
		in.Listeners = append(in.Listeners, console.Listener{Name: l.Name, Protocol: string(l.Protocol),
			Addr: l.ln.Addr().String(), Advertised: net.JoinHostPort(l.advertise.host, fmt.Sprint(l.advertise.port))})
	}
	return in
}

// GroupLag is every group's lag as /metrics reports it, for the console's
// lag history (sampled as the broker, not as a user: the console shows a
// user only the groups and topics they may Describe).
func (cb consoleBackend) GroupLag(now time.Time) []metrics.GroupStats {
	if cb.ready() != nil {
		return nil
	}
	return cb.src.Groups(now)
}

// RequestTotals is the requests handled by API, from the request metrics.
func (cb consoleBackend) RequestTotals() map[string]float64 {
	if cb.ready() != nil {
		return nil
	}
	out := map[string]float64{}
	cb.b.metrics.RequestTotals(func(api string, n float64) { out[api] = n })
	return out
}

// GroupTimeLag is, per topic and partition of group's committed offsets,
// now minus the timestamp of the next record the group consumes (0 when
// caught up), as /metrics computes it; only for a user with Describe on
// the group, and only the topics they may Describe.
func (cb consoleBackend) GroupTimeLag(ctx context.Context, group string, now time.Time) (map[string]map[int32]float64, error) {
	b := cb.b
	subj, ok := HTTPSubject(ctx)
	if !ok {
		return nil, console.ErrNoSubject
	}
	if err := cb.ready(); err != nil {
		return nil, err
	}
	if !b.cfg.Authorizer.Authorize(subj, auth.OpDescribe, auth.Group(group)) {
		return nil, kerr.GroupAuthorizationFailed
	}
	topics, err := b.groups.FetchOffsets(group, nil)
	if err != nil {
		return nil, fmt.Errorf("offsets of group %q: %w", group, err)
	}
	s := cb.src
	s.tsMu.Lock()
	defer s.tsMu.Unlock()
	seen := map[lagKey]int64{}
	out := map[string]map[int32]float64{}
	for _, t := range topics {
		if !b.cfg.Authorizer.Authorize(subj, auth.OpDescribe, auth.Topic(t.Topic)) {
			continue
		}
		for _, tp := range t.Partitions {
			if pl, ok := s.lag(t.Topic, tp, now, seen); ok {
				if out[t.Topic] == nil {
					out[t.Topic] = map[int32]float64{}
				}
				out[t.Topic][tp.Partition] = pl.LagSeconds
			}
		}
	}
	return out, nil
}

// Registry is the schema registry's REST API (Confluent's), served
// in-process: a request whose context carries the HTTP subject
// (HTTPSubject) is that principal's, authorized as over the registry's own
// listener. It is console.ErrNoRegistry when the registry is off.
func (cb consoleBackend) Registry() (http.Handler, error) {
	if err := cb.ready(); err != nil {
		return nil, err
	}
	if cb.b.registry == nil {
		return nil, console.ErrNoRegistry
	}
	return cb.b.registry.srv.Handler, nil
}

// Request serves req as the subject of ctx (HTTPSubject) would see it over
// the broker's first listener. The request and the response go through
// their wire encoding, as over a connection.
func (cb consoleBackend) Request(ctx context.Context, kreq kmsg.Request) (kmsg.Response, error) {
	b := cb.b
	subj, ok := HTTPSubject(ctx)
	if !ok {
		return nil, console.ErrNoSubject
	}
	key := kreq.Key()
	h, ok := handlers[key]
	if !ok || !consoleAPIs[key] {
		return nil, fmt.Errorf("console: %s is not served in-process", kmsg.NameForKey(key))
	}
	if err := cb.ready(); err != nil {
		return nil, err
	}
	version := min(h.max, kreq.MaxVersion())
	kreq.SetVersion(version)
	in := kmsg.RequestForKey(key)
	in.SetVersion(version)
	if err := in.ReadFrom(kreq.AppendTo(nil)); err != nil {
		return nil, fmt.Errorf("console: encoding %s: %w", kmsg.NameForKey(key), err)
	}
	nc := &captureConn{remote: &net.TCPAddr{IP: subj.Host.AsSlice()}}
	c := newConn(b, nc)
	c.subj = subj
	c.l = b.lns[0]
	r := &request{c: c, key: key, version: version, clientID: "sluice-console", kreq: in}
	resp := resolve(h.fn(b, r, in)) // pipeline.go
	if resp == nil {
		return nil, fmt.Errorf("console: %s had no response", kmsg.NameForKey(key))
	}
	if !c.write(r, resp) {
		return nil, fmt.Errorf("console: %s response could not be encoded", kmsg.NameForKey(key))
	}
	frame := nc.buf.Bytes()
	if len(frame) < 8 || int(binary.BigEndian.Uint32(frame)) != len(frame)-4 {
		return nil, fmt.Errorf("console: malformed %s response frame", kmsg.NameForKey(key))
	}
	body := frame[8:]
	out := kreq.ResponseKind()
	out.SetVersion(version)
	if out.IsFlexible() {
		rd := kbin.Reader{Src: body}
		skipTags(&rd)
		body = rd.Src
	}
	if err := out.ReadFrom(body); err != nil {
		return nil, fmt.Errorf("console: decoding %s response: %w", kmsg.NameForKey(key), err)
	}
	return out, nil
}

// captureConn is the in-process connection of a console request: it
// keeps what the response writer sends.
type captureConn struct {
	buf    bytes.Buffer
	remote net.Addr
}

func (c *captureConn) Read([]byte) (int, error)         { return 0, net.ErrClosed }
func (c *captureConn) Write(p []byte) (int, error)      { return c.buf.Write(p) }
func (c *captureConn) Close() error                     { return nil }
func (c *captureConn) LocalAddr() net.Addr              { return &net.TCPAddr{} }
func (c *captureConn) RemoteAddr() net.Addr             { return c.remote }
func (c *captureConn) SetDeadline(time.Time) error      { return nil }
func (c *captureConn) SetReadDeadline(time.Time) error  { return nil }
func (c *captureConn) SetWriteDeadline(time.Time) error { return nil }
