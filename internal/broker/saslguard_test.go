package broker

import (
	"encoding/base64"
	"fmt"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// saslOpen opens a raw connection to addr and completes a SaslHandshake
// v1 for mech.
func saslOpen(t *testing.T, addr, mech string) net.Conn {
	t.Helper()
	c := rawConn(t, addr)
	hs := kmsg.NewPtrSASLHandshakeRequest()
	hs.Version, hs.Mechanism = 1, mech
	writeRequest(t, c, 1, hs)
	body := mustResponse(t, c)
	resp := kmsg.NewPtrSASLHandshakeResponse()
	resp.Version = 1
	if err := resp.ReadFrom(body[4:]); err != nil || resp.ErrorCode != 0 {
		t.Fatalf("handshake %s: %v %d", mech, err, resp.ErrorCode)
	}
	return c
}

// saslAuth sends one SaslAuthenticate v2 message and returns the response.
func saslAuth(t *testing.T, c net.Conn, msg []byte) *kmsg.SASLAuthenticateResponse {
	t.Helper()
	req := kmsg.NewPtrSASLAuthenticateRequest()
	req.Version, req.SASLAuthBytes = 2, msg
	writeRequest(t, c, 2, req)
	body := mustResponse(t, c)
	resp := kmsg.NewPtrSASLAuthenticateResponse()
	resp.Version = 2
	if err := resp.ReadFrom(body[5:]); err != nil { // correlation id, header tags
		t.Fatal(err)
	}
	return resp
}

// plainAttempt authenticates once with PLAIN and returns the error code.
func plainAttempt(t *testing.T, addr, user, pass string) int16 {
	t.Helper()
	c := saslOpen(t, addr, "PLAIN")
	defer c.Close()
	return saslAuth(t, c, []byte("\x00"+user+"\x00"+pass)).ErrorCode
}

// TestFailedAuthenticationDelayed: a failed authentication is answered
// after connection.failed.authentication.delay.ms, then the connection is
// closed; other connections are not held up meanwhile.
func TestFailedAuthenticationDelayed(t *testing.T) {
	const delay = 400 * time.Millisecond
	tb, _, admin, _, _ := saslBroker(t, ProtocolSASLPlaintext, map[string]string{
		"sasl.enabled.mechanisms": "PLAIN", authDelayConfig: strconv.Itoa(int(delay / time.Millisecond))})
	addUser(t, admin, "alice", "pw", kadm.ScramSha256)
	addr := listenerAddr(tb, "SASL")

	c := saslOpen(t, addr, "PLAIN")
	start := time.Now()
	req := kmsg.NewPtrSASLAuthenticateRequest()
	req.Version, req.SASLAuthBytes = 2, []byte("\x00alice\x00wrong")
	writeRequest(t, c, 2, req)
	// Meanwhile another client authenticates at once.
	otherStart := time.Now()
	if code := plainAttempt(t, addr, "alice", "pw"); code != 0 {
		t.Fatalf("right password: error %d", code)
	}
	otherTook := time.Since(otherStart)
	body := mustResponse(t, c)
	took := time.Since(start)
	resp := kmsg.NewPtrSASLAuthenticateResponse()
	resp.Version = 2
	if err := resp.ReadFrom(body[5:]); err != nil || resp.ErrorCode != kerr.SaslAuthenticationFailed.Code {
		t.Fatalf("wrong password: %v, code %d", err, resp.ErrorCode)
	}
	if took < delay {
		t.Fatalf("failure answered after %v, want at least %v", took, delay)
	}
	if otherTook >= took {
		t.Errorf("a concurrent success took %v, as long as the delayed failure (%v)", otherTook, took)
	}
	if _, err := readResponse(c); err == nil {
		t.Fatal("connection still open after the failure")
	}
	t.Logf("failure answered after %v; a concurrent success took %v", took, otherTook)
}

// TestGuessRateWithDefaultDelay measures how many passwords one client
// can try a second against one user with the default delay (limits off).
func TestGuessRateWithDefaultDelay(t *testing.T) {
	tb, _, admin, _, _ := saslBroker(t, ProtocolSASLPlaintext, map[string]string{
		"sasl.enabled.mechanisms": "PLAIN", authPerUserConfig: "0", authPerAddressConfig: "0"})
	addUser(t, admin, "alice", "pw", kadm.ScramSha256)
	addr := listenerAddr(tb, "SASL")
	start := time.Now()
	n := 0
	for time.Since(start) < 2*time.Second {
		if code := plainAttempt(t, addr, "alice", fmt.Sprint("guess", n)); code != kerr.SaslAuthenticationFailed.Code {
			t.Fatalf("guess %d: code %d", n, code)
		}
		n++
	}
	rate := float64(n) / time.Since(start).Seconds()
	t.Logf("%d guesses in %v: %.1f guesses/s against one user on one connection at a time", n, time.Since(start), rate)
	if rate > 10.5 { // at most one per 100 ms
		t.Fatalf("%.1f guesses/s with the default 100 ms delay", rate)
	}
}

// TestFailedAuthenticationRateLimits: past the per-user limit even the
// right password fails, for that user only; past the per-address limit
// every attempt from the address fails; both refill with time; the
// counters count it all.
func TestFailedAuthenticationRateLimits(t *testing.T) {
	clk := &testClock{t: time.UnixMilli(1_700_000_000_000)}
	tb, _ := startSecure(t, Config{Now: clk.Now, Listeners: []Listener{
		{Name: "PLAINTEXT", Protocol: ProtocolPlaintext, Addr: "127.0.0.1:0"},
		{Name: "SASL", Protocol: ProtocolSASLPlaintext, Addr: "127.0.0.1:0"},
	}, Kafka: map[string]string{"sasl.enabled.mechanisms": "PLAIN", authDelayConfig: "0",
		authPerUserConfig: "3", authPerAddressConfig: "8"}})
	admin := secClient(t, listenerAddr(tb, "PLAINTEXT"))
	addUser(t, admin, "alice", "pw", kadm.ScramSha256)
	addUser(t, admin, "bob", "pw", kadm.ScramSha256)
	addr := listenerAddr(tb, "SASL")
	failed := kerr.SaslAuthenticationFailed.Code
	for i := range 3 {
		if code := plainAttempt(t, addr, "alice", "wrong"); code != failed {
			t.Fatalf("guess %d: code %d", i, code)
		}
	}
	if code := plainAttempt(t, addr, "alice", "pw"); code != failed {
		t.Fatalf("right password past the per-user limit: code %d, want SASL_AUTHENTICATION_FAILED", code)
	}
	if code := plainAttempt(t, addr, "bob", "pw"); code != 0 {
		t.Fatalf("another user: code %d", code)
	}
	if st := tb.AuthStats(); st.Failed != 4 || st.RateLimited != 1 {
		t.Fatalf("stats %+v, want 4 failed, 1 rate limited", st)
	}
	clk.Advance(20 * time.Second) // a third of a minute: one token
	if code := plainAttempt(t, addr, "alice", "pw"); code != 0 {
		t.Fatalf("right password after the refill: code %d", code)
	}
	// The address (8 a minute): 8 failures of unknown users empty it.
	for i := range 8 {
		plainAttempt(t, addr, fmt.Sprint("nobody", i), "x")
	}
	if code := plainAttempt(t, addr, "bob", "pw"); code != failed {
		t.Fatalf("past the per-address limit: code %d", code)
	}
	clk.Advance(time.Minute)
	if code := plainAttempt(t, addr, "bob", "pw"); code != 0 {
		t.Fatalf("after the address refilled: code %d", code)
	}
}

// TestFailureLimiterBounded: invented user names cannot grow the limiter
// past maxAuthLimiterKeys.
func TestFailureLimiterBounded(t *testing.T) {
	l := newFailureLimiter(5)
	now := time.UnixMilli(1_700_000_000_000)
	for i := range maxAuthLimiterKeys + 5000 {
		l.fail(strconv.Itoa(i), now)
	}
	if n := l.size(); n > maxAuthLimiterKeys {
		t.Fatalf("%d keys tracked", n)
	}
	for range 5 {
		l.fail("x", now)
	}
	if l.allowed("x", now) {
		t.Fatal("key allowed past its limit")
	}
}

// scramFirst sends a SCRAM client-first for user and returns the salt,
// iteration count and server nonce length of the server-first answer.
func scramFirst(t *testing.T, addr, mech, user string) (salt []byte, iters int, nonceLen int) {
	t.Helper()
	c := saslOpen(t, addr, mech)
	defer c.Close()
	const cnonce = "fyko+d2lbbFgONRv9qkxdawL"
	resp := saslAuth(t, c, []byte("n,,n="+user+",r="+cnonce))
	if resp.ErrorCode != 0 {
		t.Fatalf("client-first for %s: code %d", user, resp.ErrorCode)
	}
	for _, f := range strings.Split(string(resp.SASLAuthBytes), ",") {
		switch {
		case strings.HasPrefix(f, "r="):
			nonceLen = len(f) - 2 - len(cnonce)
		case strings.HasPrefix(f, "s="):
			var err error
			if salt, err = base64.StdEncoding.DecodeString(f[2:]); err != nil {
				t.Fatal(err)
			}
		case strings.HasPrefix(f, "i="):
			iters, _ = strconv.Atoi(f[2:])
		}
	}
	return salt, iters, nonceLen
}

// TestScramUnknownUserLooksReal: the server-first message of an unknown
// user has the shape of a real user's (salt length, iteration count,
// nonce length), and its salt is stable per name, also across a restart.
func TestScramUnknownUserLooksReal(t *testing.T) {
	dir := t.TempDir()
	start := func() *testBroker {
		tb, _ := startSecure(t, Config{DataDir: dir, Listeners: []Listener{
			{Name: "PLAINTEXT", Protocol: ProtocolPlaintext, Addr: "127.0.0.1:0"},
			{Name: "SASL", Protocol: ProtocolSASLPlaintext, Addr: "127.0.0.1:0"},
		}})
		return tb
	}
	tb := start()
	admin := secClient(t, listenerAddr(tb, "PLAINTEXT"))
	// Users as kadm and "sluice user set" make them: 24-byte salts; an
	// iteration count other than the minimum.
	for _, u := range []string{"alice", "bob"} {
		res, err := kadm.NewClient(admin).AlterUserSCRAMs(ctxT(t), nil, []kadm.UpsertSCRAM{{User: u, Mechanism: kadm.ScramSha512, Iterations: 8192, Password: "pw"}})
		if err == nil {
			err = res.Error()
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	addr := listenerAddr(tb, "SASL")
	rs, ri, rn := scramFirst(t, addr, "SCRAM-SHA-512", "alice")
	fs, fi, fn := scramFirst(t, addr, "SCRAM-SHA-512", "mallory")
	if len(fs) != len(rs) || fi != ri || fn != rn {
		t.Fatalf("unknown user: salt %d bytes, %d iterations, nonce %d; real user: %d, %d, %d", len(fs), fi, fn, len(rs), ri, rn)
	}
	again, _, _ := scramFirst(t, addr, "SCRAM-SHA-512", "mallory")
	if string(again) != string(fs) {
		t.Fatal("unknown user's salt changed between two requests")
	}
	if other, _, _ := scramFirst(t, addr, "SCRAM-SHA-512", "trudy"); string(other) == string(fs) {
		t.Fatal("two unknown users share a salt")
	}
	tb.stop(t)
	tb = start()
	addr = listenerAddr(tb, "SASL")
	if after, _, _ := scramFirst(t, addr, "SCRAM-SHA-512", "mallory"); string(after) != string(fs) {
		t.Fatal("unknown user's salt changed across a restart")
	}
	if salt, _, _ := scramFirst(t, addr, "SCRAM-SHA-512", "alice"); string(salt) != string(rs) {
		t.Fatal("real user's salt changed across a restart")
	}
}
