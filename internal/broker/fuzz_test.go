package broker

import (
	"net"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// discardConn is a net.Conn that swallows writes, for driving handleFrame
// without a socket.
type discardConn struct{ net.Conn }

func (discardConn) Write(b []byte) (int, error)     { return len(b), nil }
func (discardConn) Close() error                    { return nil }
func (discardConn) RemoteAddr() net.Addr            { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 1} }
func (discardConn) SetReadDeadline(time.Time) error { return nil }

// FuzzHandleFrame feeds arbitrary request frames (header and body) to the
// request path of a live broker: whatever the bytes, it must answer or
// close the connection, never panic.
func FuzzHandleFrame(f *testing.F) {
	formatter := kmsg.NewRequestFormatter(kmsg.FormatterClientID("fuzz"))
	for _, k := range sortedKeys() {
		h := handlers[k]
		for _, v := range []int16{h.min, h.max} {
			req := kmsg.RequestForKey(k)
			req.SetVersion(v)
			frame := formatter.AppendRequest(nil, req, 1)
			f.Add(frame[4:])
		}
	}
	tb := startBroker(f, "", nil)
	c := newConn(tb.Broker, discardConn{})
	f.Fuzz(func(t *testing.T, frame []byte) {
		// Fetches must not long-poll inside the fuzzer, and topic or
		// partition creation with random counts would fill the disk.
		if len(frame) >= 2 && frame[0] == 0 && (frame[1] == 1 || frame[1] == 19 || frame[1] == 37) {
			return
		}
		c.handleFrame(frame)
	})
}

func TestForgedHeaderTagCount(t *testing.T) {
	tb := startBroker(t, "", nil)
	c := newConn(tb.Broker, discardConn{})
	// OffsetForLeaderEpoch v4 (flexible header) whose header claims
	// ~534 million tagged fields in five bytes.
	frame := []byte("\x00\x17\x00\x04\x00\x00\x00\x01\x00\x04uzz\x00\xff\xff\xff\xfe\x01 ")
	done := make(chan bool, 1)
	go func() { done <- c.handleFrame(frame) }()
	select {
	case keep := <-done:
		if keep {
			t.Fatal("malformed header did not close the connection")
		}
	case <-time.After(2 * time.Second):
		t.Fatal("a forged header tag count kept the broker busy for seconds")
	}
}
