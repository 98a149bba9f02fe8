package broker

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kbin"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice-io/sluice/internal/auth"
)

// Frame layout (Kafka's): a 4-byte big-endian size, then the request
// header and body. Request header v1: api_key i16, api_version i16,
// correlation_id i32, client_id nullable string (i16 length). Header v2
// (flexible requests) adds a tagged-field section after client_id.
// Response header v0 is the correlation id; v1 (flexible responses, except
// ApiVersions which always uses v0) adds an empty tagged-field section.

// conn serves one client connection: it reads a request, handles it and
// writes the response before reading the next, so responses go out in
// request order as Kafka requires. The one exception is a pending response
// (cluster mode's produce, pipeline.go): from the first one on, a writer
// goroutine writes the connection's responses, still in request order,
// while the reader goes on.
type conn struct {
	b      *Broker
	nc     net.Conn
	br     *bufio.Reader
	logger *slog.Logger
	subj   auth.Subject

	l          *listener    // the listener the connection came in on
	baseLogger *slog.Logger // logger before a principal was known
	sasl       saslState    // sasl.go
	closeAfter bool         // close once the current response is written

	maxRequest int32
	idle       time.Duration

	closeOnce sync.Once
	out       []byte // reused response buffer

	stripe   uint32 // the stripe of the request metrics it records in
	clientID string // of the last request, kept while requests repeat it

	// pipe queues responses for the writer goroutine once a handler
	// returned a pending response (pipeline.go); nil until then.
	pipe     chan piped
	pipeDone chan struct{}
}

// connSeq numbers connections, spreading them over the request metrics'
// stripes.
var connSeq atomic.Uint32

func newConn(b *Broker, nc net.Conn) *conn {
	c := &conn{
		b:          b,
		nc:         nc,
		br:         bufio.NewReaderSize(nc, 8<<10),
		logger:     b.logger.With("remote", nc.RemoteAddr().String()),
		subj:       auth.Subject{Principal: auth.Anonymous},
		maxRequest: int32(b.brokerInt("socket.request.max.bytes")),
		idle:       b.brokerMs("connections.max.idle.ms"),
		stripe:     connSeq.Add(1),
	}
	c.baseLogger = c.logger
	if len(b.lns) > 0 {
		c.l = b.lns[0]
	}
	if ap, err := netip.ParseAddrPort(nc.RemoteAddr().String()); err == nil {
		c.subj.Host = ap.Addr()
	}
	return c
}

func (c *conn) close() { c.closeOnce.Do(func() { c.nc.Close() }) }

// request is one decoded request and what a handler needs to know of it.
type request struct {
	c        *conn
	key      int16
	version  int16
	corrID   int32
	clientID string
	kreq     kmsg.Request
	waited   time.Duration // time a long poll waited (not handler time)
}

func (c *conn) serve() {
	defer func() {
		c.stopPipe() // the queued responses are written first (pipeline.go)
		c.close()
	}()
	if !c.handshake() {
		return
	}
	var sizeBuf [4]byte
	for {
		if c.idle > 0 {
			c.nc.SetReadDeadline(time.Now().Add(c.idle))
		}
		if _, err := io.ReadFull(c.br, sizeBuf[:]); err != nil {
			c.logReadErr(err)
			return
		}
		size := int32(binary.BigEndian.Uint32(sizeBuf[:]))
		if max := c.maxFrame(); (size < 8 && !c.sasl.raw) || size < 0 || size > max {
			c.logger.Warn("closing connection: request frame size out of bounds", "size", size, "max", max)
			return
		}
		frame, held, err := c.readFrame(int(size), c.pooledFrame()) // admission.go
		if err != nil {
			c.logReadErr(err)
			return
		}
		var keep bool
		if c.sasl.raw {
			keep = c.rawToken(frame) // SaslHandshake v0 (sasl.go)
		} else {
			keep = c.handleFrame(frame)
		}
		c.releaseFrame(held)
		if !keep {
			return
		}
	}
}

func (c *conn) logReadErr(err error) {
	select {
	case <-c.b.done:
		return
	default:
	}
	var ne net.Error
	switch {
	case errors.Is(err, io.EOF), errors.Is(err, net.ErrClosed):
		c.logger.Debug("connection closed by client")
	case errors.As(err, &ne) && ne.Timeout():
		c.logger.Info("closing idle connection", "idle", c.idle)
	case errors.Is(err, io.ErrUnexpectedEOF):
		c.logger.Warn("connection closed mid-frame")
	default:
		c.logger.Info("connection read failed", "err", err)
	}
}

// handleFrame decodes and serves one request; false closes the connection.
func (c *conn) handleFrame(frame []byte) bool {
	metricsOn := c.b.metrics != nil
	read := monoNow() // when the request was read: for metrics and lc.busy
	r := kbin.Reader{Src: frame}
	key, version, corrID := r.Int16(), r.Int16(), r.Int32()
	var clientID []byte // nullable: a length below 0 is null, read as ""
	if n := r.Int16(); n >= 0 {
		clientID = r.Span(int(n))
	}
	if r.Complete() != nil {
		c.logger.Warn("closing connection: malformed request header")
		return false
	}
	c.b.lc.sawRequest(read)
	if string(clientID) != c.clientID {
		c.clientID = string(clientID) // a client sends the same each time
	}
	req := &request{c: c, key: key, version: version, corrID: corrID, clientID: c.clientID}
	if !c.admit(key) {
		return false
	}
	h, ok := c.b.handler(key)
	if !ok {
		c.logger.Warn("closing connection: request for an API this broker does not serve", "api_key", key, "api", kmsg.NameForKey(key), "version", version, "client_id", req.clientID)
		return false
	}
	if version < h.min || version > h.max {
		if key == apiVersionsKey {
			return c.send(req, c.b.unsupportedAPIVersions())
		}
		c.logger.Warn("closing connection: unsupported API version", "api", kmsg.NameForKey(key), "version", version, "supported", fmt.Sprintf("%d-%d", h.min, h.max), "client_id", req.clientID)
		return false
	}
	kreq := kmsg.RequestForKey(key)
	kreq.SetVersion(version)
	body := r.Src
	if kreq.IsFlexible() {
		// Header v2's tagged fields; ApiVersions v3+ is flexible in its
		// body and header alike.
		r = kbin.Reader{Src: body}
		skipTags(&r)
		if r.Complete() != nil {
			c.logger.Warn("closing connection: malformed request header tags", "api", kmsg.NameForKey(key))
			return false
		}
		body = r.Src
	}
	if err := kreq.ReadFrom(body); err != nil {
		// Also for ApiVersions: a version this broker supports with a body
		// that does not parse closes the connection, as in Kafka (an
		// InvalidRequestException from RequestContext.parseRequest); only
		// an unsupported version gets the KIP-511 answer above.
		c.logger.Warn("closing connection: malformed request", "api", kmsg.NameForKey(key), "version", version, "client_id", req.clientID, "err", err)
		return false
	}
	req.kreq = kreq
	quotas := c.b.quotasActive() // quotas.go; one atomic load when none are set
	// monoNow readings: the handler began and returned.
	var start, handled time.Duration
	if quotas || metricsOn {
		start = monoNow()
	}
	resp := h.fn(c.b, req, kreq)
	var throttle time.Duration
	if quotas || metricsOn {
		handled = monoNow()
	}
	if quotas {
		throttle = c.b.quotaThrottle(req, len(frame), resp, handled-start-req.waited)
	}
	if _, pending := resp.(*pendingResponse); pending || c.pipe != nil {
		// pipeline.go: the writer goroutine answers, in order.
		if resp != nil {
			c.startPipe()
			c.pipe <- piped{req: req, resp: resp, observe: metricsOn, read: read, start: start, handled: handled}
		}
		if resp != nil && c.closeAfter {
			return false
		}
		if quotas {
			c.mute(throttle)
		}
		return true
	}
	sent := resp == nil || c.write(req, resp) // nil: acks=0 produce, no response
	if metricsOn {
		c.b.observeRequest(req, resp, read, start, handled) // metrics.go
	}
	if !sent || (resp != nil && c.closeAfter) {
		return false
	}
	if quotas {
		c.mute(throttle) // KIP-219: respond at once, then stop reading
	}
	return true
}

// send writes resp now, or queues it behind the pending responses.
func (c *conn) send(req *request, resp kmsg.Response) bool {
	if c.pipe != nil {
		c.pipe <- piped{req: req, resp: resp}
		return true
	}
	return c.write(req, resp)
}

// write encodes and sends resp with the request's correlation id.
func (c *conn) write(req *request, resp kmsg.Response) bool {
	resp.SetVersion(req.version)
	out := c.out[:0]
	out = append(out, 0, 0, 0, 0)
	out = binary.BigEndian.AppendUint32(out, uint32(req.corrID))
	if resp.IsFlexible() && req.key != apiVersionsKey {
		out = append(out, 0) // empty tagged fields
	}
	out = resp.AppendTo(out)
	binary.BigEndian.PutUint32(out, uint32(len(out)-4))
	var err error
	if sr, ok := resp.(*splicedResponse); ok && len(sr.regions) > 0 {
		defer sr.release()
		var pieces []piece
		if pieces, _, err = sr.splice(out); err != nil {
			c.logger.Error("closing connection: cannot splice fetch response", "err", err)
			return false
		}
		err = c.writeSpliced(pieces)
	} else {
		_, err = c.nc.Write(out)
	}
	if err != nil {
		c.logReadErr(err)
		return false
	}
	if cap(out) <= 64<<10 {
		c.out = out[:0]
	} else {
		c.out = nil // don't pin a large response buffer to an idle connection
	}
	return true
}

// Buffers for Produce frames come from size-classed pools so a steady
// stream of produce requests allocates nothing; only buffers of up to
// maxPooledFrame bytes are pooled (admission.go). Only Produce: kmsg decodes
// []byte fields (and unknown tagged fields) as slices of the frame, and a
// frame that goes back to the pool is overwritten by a later request, so
// a pooled frame must not be referenced once its request is answered. The
// Produce path copies what it keeps (the log writes the batch to its
// segment file; producer and transaction state keep only numbers and
// copied strings). Every other request gets a frame of its own that the
// garbage collector frees once nothing refers to it: the group
// coordinator's protocol metadata and assignments, SASL and SCRAM state,
// fetch sessions, ACLs, quotas and configs may keep what they decoded
// without copying.
var bufPools [32]sync.Pool

// produceKey is the API key whose frames are pooled.
const produceKey = 0

// pooledFrame reports whether the next frame, whose size has been read,
// is a Produce request and goes in a pooled buffer. It peeks at the API
// key (the frame is at least 8 bytes outside SaslHandshake v0's raw mode).
func (c *conn) pooledFrame() bool {
	if c.sasl.raw {
		return false
	}
	key, err := c.br.Peek(2)
	return err == nil && int16(binary.BigEndian.Uint16(key)) == produceKey
}

// scribbleFrames, set by tests, overwrites every frame as it goes back to
// the pool, so a reference kept past its request reads garbage at once.
var scribbleFrames atomic.Bool

// releaseFrame returns a pooled frame once its request is answered.
func releaseFrame(b []byte) {
	if scribbleFrames.Load() {
		for i := range b {
			b[i] = 0xa5
		}
	}
	putBuf(b)
}

func getBuf(n int) []byte {
	class := bitsLen(n)
	if v := bufPools[class].Get(); v != nil {
		return (*(v.(*[]byte)))[:n]
	}
	return make([]byte, n, 1<<class)
}

func putBuf(b []byte) {
	class := bitsLen(cap(b))
	if 1<<class != cap(b) || cap(b) > maxPooledFrame {
		return
	}
	bufPools[class].Put(&b)
}

// bitsLen is the size class holding n: the smallest k with 1<<k >= n.
func bitsLen(n int) int {
	k := 0
	for 1<<k < n {
		k++
	}
	return k
}

// skipTags skips a tagged-field section, stopping at the first short read
// (as kmsg.SkipTags does since kmsg v1.15.1): a forged count of four
// billion tags must not spin for seconds on a 20-byte frame.
func skipTags(r *kbin.Reader) {
	for n := r.Uvarint(); n > 0 && r.Ok(); n-- {
		r.Uvarint()
		r.Span(int(r.Uvarint()))
	}
}
