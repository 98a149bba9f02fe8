package broker

// Pipelined responses. A connection answers its requests in order, one
// at a time (Kafka's rule, conn.go). A handler whose answer waits on
// something slow that needs nothing more from the connection (a produce
// waiting for what makes its records durable: cluster mode's flush, or
// the fsyncs of flush.messages=1) returns a *pendingResponse instead: the
// connection hands it to a writer goroutine of its own, which waits for it
// and writes it, and reads the next request meanwhile. From then on every response of that connection goes through
// the writer, in request order. A client with several produce requests in
// flight (franz-go sends up to 5 per broker) then has them all in one
// flush (or fsync) instead of one each.
//
// The writer is owned by the connection's serve loop: started with the
// first pending response, stopped (its queue closed) and waited for when
// serve returns, before the connection closes.

import (
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// pendingResponse is a response completed later: after wait returns, the
// embedded Response is final. wait must return on its own (bounded by the
// request's timeout or the broker's closing).
type pendingResponse struct {
	kmsg.Response
	wait func()
}

// resolve is resp, waited for if pending.
func resolve(resp kmsg.Response) kmsg.Response {
	if pr, ok := resp.(*pendingResponse); ok {
		pr.wait()
		return pr.Response
	}
	return resp
}

// piped is one response queued for the writer, with what its metrics need.
type piped struct {
	req         *request
	resp        kmsg.Response
	observe     bool // record request metrics
	read, start time.Duration
	handled     time.Duration // when the handler returned (before the wait)
}

// pipelineDepth bounds the responses queued per connection: the reader
// stops reading once that many wait.
const pipelineDepth = 16

// startPipe starts the connection's writer, once.
func (c *conn) startPipe() {
	if c.pipe != nil {
		return
	}
	c.pipe = make(chan piped, pipelineDepth)
	c.pipeDone = make(chan struct{})
	go c.writePiped()
}

// stopPipe closes the writer's queue and waits for it to finish writing.
func (c *conn) stopPipe() {
	if c.pipe == nil {
		return
	}
	close(c.pipe)
	<-c.pipeDone
}

// writePiped is the writer goroutine: it writes each queued response once
// it is complete. After a failed write it closes the connection (the
// reader then stops) and drains the rest.
func (c *conn) writePiped() {
	defer close(c.pipeDone)
	failed := false
	for p := range c.pipe {
		resp := resolve(p.resp)
		if failed {
			continue
		}
		if !c.write(p.req, resp) {
			failed = true
			c.close()
			continue
		}
		if p.observe {
			c.b.observeRequest(p.req, resp, p.read, p.start, p.handled) // metrics.go
		}
	}
}
