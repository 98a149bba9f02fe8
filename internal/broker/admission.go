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
// * An admitted large frame is read in smallFrame chunks (pooled), so its
//   memory grows only as its bytes arrive: a client that declares 100 MB
//   and sends nothing costs no memory. Once complete the chunks are copied
//   into one buffer of exactly its size, which is not pooled.
// * The frame pools keep buffers of at most smallFrame bytes, so a burst of
//   large requests leaves no large buffer behind.
//
// Unlike Kafka, which counts every frame against queued.max.request.bytes,
// small frames are exempt, so that a few stalled large frames cannot stop
// the heartbeats and small produce requests of every other client.

import (
	"io"
	"sync"
)

// smallFrame is the largest frame read at once and pooled.
const smallFrame = 1 << 20

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

// readFrame reads a frame of size bytes, admitting it first when it is
// large. A small frame is read into a pooled buffer when pooled (Produce
// only, see conn.go's bufPools), otherwise into its own. release, called
// once the request is answered, gives the admission back and a pooled
// buffer to its pool.
func (c *conn) readFrame(size int, pooled bool) (frame []byte, release func(), err error) {
	if size <= smallFrame {
		if !pooled {
			frame = make([]byte, size)
			_, err := io.ReadFull(c.br, frame)
			return frame, func() {}, err
		}
		frame = getBuf(size)
		if _, err := io.ReadFull(c.br, frame); err != nil {
			putBuf(frame)
			return nil, nil, err
		}
		return frame, func() { releaseFrame(frame) }, nil
	}
	fb := c.b.frames
	if !fb.acquire(int64(size), c.b.done) {
		return nil, nil, io.EOF // shutting down
	}
	release = func() { fb.release(int64(size)) }
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
			release()
			return nil, nil, err
		}
		rest -= len(ch)
	}
	frame = make([]byte, 0, size)
	for _, ch := range chunks {
		frame = append(frame, ch...)
	}
	return frame, release, nil
}
