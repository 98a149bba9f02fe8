package broker

import (
	"encoding/binary"
	"io"
	"net"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice-io/sluice/internal/log"
)

// mustResponse reads one response frame from c (correlation id first).
func mustResponse(t *testing.T, c net.Conn) []byte {
	t.Helper()
	body, err := readResponse(c)
	if err != nil {
		t.Fatal(err)
	}
	return body
}

// TestApiVersionsGarbageBodyCloses: an ApiVersions request of a version the
// broker supports whose body does not parse closes the connection, as
// Kafka's RequestContext.parseRequest (InvalidRequestException) does; only
// an unsupported version gets the v0 UNSUPPORTED_VERSION answer (KIP-511).
func TestApiVersionsGarbageBodyCloses(t *testing.T) {
	tb := startBroker(t, "", nil)
	c := rawConn(t, tb.addr)
	// ApiVersions v3, correlation id 7, client id "x", empty header tags,
	// then a compact string whose length varint never ends.
	frame := []byte{0, 18, 0, 3, 0, 0, 0, 7, 0, 1, 'x', 0, 0xff, 0xff, 0xff, 0xff}
	c.Write(binary.BigEndian.AppendUint32(nil, uint32(len(frame))))
	c.Write(frame)
	if n, err := io.ReadFull(c, make([]byte, 4)); err == nil {
		t.Fatalf("broker answered (%d bytes) an ApiVersions v3 request with a garbage body", n)
	}
	// The same version with a well-formed body is answered.
	c = rawConn(t, tb.addr)
	req := kmsg.NewPtrApiVersionsRequest()
	req.Version = 3
	req.ClientSoftwareName, req.ClientSoftwareVersion = "sluice-test", "1.0"
	c.Write(kmsg.NewRequestFormatter(kmsg.FormatterClientID("x")).AppendRequest(nil, req, 8))
	body := mustResponse(t, c)
	resp := kmsg.NewPtrApiVersionsResponse()
	resp.Version = 3
	if err := resp.ReadFrom(body[4:]); err != nil || resp.ErrorCode != 0 || len(resp.ApiKeys) == 0 {
		t.Fatalf("well-formed v3: err %v, code %d, %d keys", err, resp.ErrorCode, len(resp.ApiKeys))
	}
}

// TestApiVersionsInvalidSoftwareName: v3+ client software name and version
// must match Kafka's pattern, else INVALID_REQUEST (KIP-511).
func TestApiVersionsInvalidSoftwareName(t *testing.T) {
	tb := startBroker(t, "", nil)
	cl := newClient(t, tb.addr)
	for _, nv := range [][2]string{{"bad name!", "1.0"}, {"ok", "-1.0"}, {"", "1.0"}} {
		req := kmsg.NewPtrApiVersionsRequest()
		req.Version = 3
		req.ClientSoftwareName, req.ClientSoftwareVersion = nv[0], nv[1]
		c := rawConn(t, tb.addr)
		c.Write(kmsg.NewRequestFormatter(kmsg.FormatterClientID("x")).AppendRequest(nil, req, 9))
		body := mustResponse(t, c)
		resp := kmsg.NewPtrApiVersionsResponse()
		resp.Version = 3
		if err := resp.ReadFrom(body[4:]); err != nil || resp.ErrorCode != kerr.InvalidRequest.Code {
			t.Errorf("%q %q: err %v, code %d, want INVALID_REQUEST", nv[0], nv[1], err, resp.ErrorCode)
		}
	}
	send[*kmsg.MetadataResponse](t, cl, kmsg.NewPtrMetadataRequest())
}

// TestMinFreeDefaultScales: without log.dir.min.free.bytes the floor is
// log.DefaultMinFree of the data directory (5% of its file system, at most
// 1 GiB); a set value is used as is.
func TestMinFreeDefaultScales(t *testing.T) {
	tb := startBroker(t, "", nil)
	if got, want := tb.lc.space.MinFree(), log.DefaultMinFree(tb.dir); got != want || got > 1<<30 {
		t.Fatalf("default floor %d, want %d", got, want)
	}
	tb2 := startBroker(t, "", map[string]string{"log.dir.min.free.bytes": "12345"})
	if got := tb2.lc.space.MinFree(); got != 12345 {
		t.Fatalf("configured floor %d", got)
	}
}
