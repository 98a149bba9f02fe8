package broker

// Memory taken by request frames.
//
// A frame is read only once its size is known and admitted:
//
// * Frames up to smallFrame bytes are read at once into pooled buffers and
//   are not counted.
// * A larger frame is admitted against queued.max.request.bytes (Kafka's
//   name; Kafka's default is -1, unbounded, Sluice's is 256 MiB) by its
//   declared size, from when its size is read until its request is
//   answered. A connection whose frame does not fit waits, unread (TCP
//   pushes back on the client), until others release enough; a frame
//   larger than the whole budget is admitted when no other is counted, so
//   every frame socket.request.max.bytes allows can be served. Waiting
//   holds nothing and ends at shutdown.
// * An admitted large Produce frame of up to maxPooledFrame bytes is read
//   at once into a pooled buffer: clients that batch up to 1 MiB per
//   partition send frames just over smallFrame, and reading those in
//   chunks cost an allocation, a zeroing and a copy of each. Its memory,
//   at most maxPooledFrame per connection, is taken when it is admitted.
// * Any other admitted large frame is read in smallFrame chunks (pooled),
//   so its memory grows only as its bytes arrive: a client that declares
//   100 MB and sends nothing costs no memory. Once complete the chunks are
//   copied into one buffer of exactly its size, which is not pooled.
// * The frame pools keep buffers of at most maxPooledFrame bytes, so a
//   burst of larger requests leaves no large buffer behind.
//
// Unlike Kafka, which counts every frame against queued.max.request.bytes,
// small frames are exempt, so that a few stalled large frames cannot stop
// the heartbeats and small produce requests of every other client.

import (
	"io"
	"sync"
)

// smallFrame is the largest frame read at once without admission.
const smallFrame = 1 << 20

// maxPooledFrame is the largest Produce frame read into a pooled buffer
// (after admission when it is over smallFrame).
const maxPooledFrame = 8 << 20

const queuedMaxRequestBytesConfig = "queued.max.request.bytes"

// frameBudget is queued.max.request.bytes. Any waiter whose frame fits
// goes ahead (not FIFO), so smaller frames are not held up behind a
// larger one.
type frameBudget struct {
	capacity int64 // <= 0: unbounded
	mu       sync.Mutex
	used     int64
	peak     int64
	wake     chan struct{} // closed and replaced on a release while waiters > 0
	waiters  int
}

func newFrameBudget(capacity int64) *frameBudget {
	return &frameBudget{capacity: capacity, wake: make(chan struct{})}
}

// acquire admits n bytes, waiting until they fit or done is closed
// (false).
func (f *frameBudget) acquire(n int64, done <-chan struct{}) bool {
	if f.capacity <= 0 {
		return true
	}
	for {
		f.mu.Lock()
		if f.used+n <= f.capacity || f.used == 0 {
			f.used += n
			f.peak = max(f.peak, f.used)
			f.mu.Unlock()
			return true
		}
		wake := f.wake
		f.waiters++
		f.mu.Unlock()
		var closed bool
		select {
		case <-wake:
		case <-done:
			closed = true
		}
		f.mu.Lock()
		f.waiters--
		f.mu.Unlock()
		if closed {
			return false
		}
	}
}

func (f *frameBudget) release(n int64) {
	if f.capacity <= 0 {
		return
	}
	f.mu.Lock()
	f.used -= n
	if f.waiters > 0 {
		close(f.wake)
		f.wake = make(chan struct{})
	}
	f.mu.Unlock()
}

// stats returns the bytes admitted now and at most so far; for tests.
func (f *frameBudget) stats() (used, peak int64, waiters int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.used, f.peak, f.waiters
}

// heldFrame is what a frame holds until its request is answered: a pooled
// buffer and an admission (conn.releaseFrame gives both back). A value,
// not a closure, so reading a frame allocates nothing but, for a frame
// not pooled, the frame itself.
type heldFrame struct {
	pooled   []byte // goes back to its pool
	admitted int64  // goes back to the frame budget
}

// readFrame reads a frame of size bytes, admitting it first when it is
// large. A small frame is read into a pooled buffer when pooled (Produce
// only, see conn.go's bufPools), otherwise into its own; so is a large
// pooled one up to maxPooledFrame bytes, once admitted. Other large
// frames are read in chunks. releaseFrame, called once the request is
// answered, gives the admission back and a pooled buffer to its pool.
func (c *conn) readFrame(size int, pooled bool) (frame []byte, held heldFrame, err error) {
	if size <= smallFrame {
		if !pooled {
			frame = make([]byte, size)
			_, err := io.ReadFull(c.br, frame)
			return frame, heldFrame{}, err
		}
		frame = getBuf(size)
		if _, err := io.ReadFull(c.br, frame); err != nil {
			putBuf(frame)
			return nil, heldFrame{}, err
		}
		return frame, heldFrame{pooled: frame}, nil
	}
	fb := c.b.frames
	if !fb.acquire(int64(size), c.b.done) {
		return nil, heldFrame{}, io.EOF // shutting down
	}
	held.admitted = int64(size)
	if pooled && size <= maxPooledFrame {
		// A Produce frame of a client batching up to its maximum
		// request size (1 MiB and a little for Kafka's and franz-go's
		// defaults): read in place, so the steady stream of them
		// allocates, zeroes and copies nothing.
		frame = getBuf(size)
		if _, err := io.ReadFull(c.br, frame); err != nil {
			putBuf(frame)
			fb.release(held.admitted)
			return nil, heldFrame{}, err
		}
		held.pooled = frame
		return frame, held, nil
	}
	var chunks [][]byte
	defer func() {
		for _, ch := range chunks {
			putBuf(ch)
		}
	}()
	for rest := size; rest > 0; {
		ch := getBuf(min(rest, smallFrame))
		chunks = append(chunks, ch)
		if _, err := io.ReadFull(c.br, ch); err != nil {
			fb.release(held.admitted)
			return nil, heldFrame{}, err
		}
		rest -= len(ch)
	}
	frame = make([]byte, 0, size)
	for _, ch := range chunks {
		frame = append(frame, ch...)
	}
	return frame, held, nil
}

// releaseFrame gives back what a frame held once its request is answered.
func (c *conn) releaseFrame(h heldFrame) {
	if h.pooled != nil {
		releaseFrame(h.pooled)
	}
	if h.admitted > 0 {
		c.b.frames.release(h.admitted)
	}
}
