package broker

// Defences of SASL authentication against password guessing and user
// enumeration (used by sasl.go):
//
// * connection.failed.authentication.delay.ms (Kafka's, default 100): a
//   failed authentication is answered only after the delay, then the
//   connection is closed, as Kafka's delayed close on authentication
//   failure. The wait is the connection's own goroutine sleeping on a
//   timer (ended early by shutdown); it holds no lock, so it delays only
//   that client.
// * A failure rate limit per user name and per client address (Sluice's
//   own connection.failed.authentication.per.user.per.minute, default 30,
//   and .per.address.per.minute, default 300): each is a token bucket
//   holding a minute's worth of failures and refilling at that rate. An
//   address out of tokens fails every attempt before its credentials are
//   checked (so guessing costs the broker no PBKDF2); a user out of tokens
//   fails every attempt, also with the right password, until the bucket
//   refills; both are answered like any failure (same error, message and
//   delay). Unknown user names are limited exactly like real ones, so the
//   limit reveals nothing. Each limiter tracks at most maxAuthLimiterKeys
//   keys; past that, refilled buckets are dropped first, then arbitrary
//   ones, so memory stays bounded whatever names an attacker invents.
// * Counters for the later metrics work: Broker.AuthStats.
// * SCRAM answers an unknown user with a fake credential shaped like the
//   real ones (scramShape: the most common salt length and iteration count
//   of the mechanism's stored credentials, else 24 bytes and 4096), its salt
//   derived from a secret kept in <data-dir>/scram_fake.key (32 random
//   bytes, mode 0600, created on first start), so it is the same for a name
//   across requests and restarts. The fake is computed for known users too,
//   so both paths do the same work.

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sluice-io/sluice/internal/auth"
	"github.com/sluice-io/sluice/internal/vfs"
)

const (
	authDelayConfig        = "connection.failed.authentication.delay.ms"
	authPerUserConfig      = "connection.failed.authentication.per.user.per.minute"
	authPerAddressConfig   = "connection.failed.authentication.per.address.per.minute"
	scramFakeKeyFile       = "scram_fake.key"
	scramFakeKeyLen        = 32
	maxAuthLimiterKeys     = 1 << 16
	authLimiterRefillEvery = time.Minute
)

// Errors of a refused attempt; SASL_AUTHENTICATION_FAILED on the wire.
var (
	ErrAuthUserRateLimited    = errors.New("too many failed authentications for this user (" + authPerUserConfig + ")")
	ErrAuthAddressRateLimited = errors.New("too many failed authentications from this address (" + authPerAddressConfig + ")")
)

// AuthStats counts SASL authentication failures since start-up. It is the
// exported reading point for metrics: Failed counts every failed
// authentication (rate-limited ones included), RateLimited those refused
// by a per-user or per-address limit.
type AuthStats struct {
	Failed      uint64
	RateLimited uint64
}

// AuthStats returns the SASL failure counters.
func (b *Broker) AuthStats() AuthStats {
	return AuthStats{Failed: b.sg.failed.Load(), RateLimited: b.sg.limited.Load()}
}

// saslGuard holds a broker's authentication defences.
type saslGuard struct {
	delay   time.Duration
	users   *failureLimiter // nil: no limit
	addrs   *failureLimiter
	fakeKey []byte

	failed, limited atomic.Uint64

	shapeMu sync.RWMutex
	shapes  map[string]scramShape // mechanism → the fake credentials' shape
}

// scramShape is a SCRAM credential's salt length and iteration count.
type scramShape struct {
	saltLen    int
	iterations int32
}

// initSASLGuard reads the configs and the fake-salt key; called by
// setupSecurity once the credentials are open.
func (b *Broker) initSASLGuard() error {
	g := &b.sg
	g.delay = b.brokerMs(authDelayConfig)
	if n := b.brokerInt(authPerUserConfig); n > 0 {
		g.users = newFailureLimiter(n)
	}
	if n := b.brokerInt(authPerAddressConfig); n > 0 {
		g.addrs = newFailureLimiter(n)
	}
	key, err := loadScramFakeKey(b.cfg.FS, filepath.Join(b.cfg.DataDir, scramFakeKeyFile))
	if err != nil {
		return err
	}
	g.fakeKey = key
	b.refreshScramShapes()
	return nil
}

// loadScramFakeKey reads the key, creating it when absent. A key of the
// wrong length is replaced: it only keeps fake salts stable.
func loadScramFakeKey(fsys vfs.FS, path string) ([]byte, error) {
	f, err := fsys.OpenFile(path, os.O_RDONLY, 0)
	if err == nil {
		key, rerr := io.ReadAll(io.LimitReader(f, scramFakeKeyLen+1))
		f.Close()
		if rerr == nil && len(key) == scramFakeKeyLen {
			return key, nil
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("opening %s: %w", path, err)
	}
	key := make([]byte, scramFakeKeyLen)
	rand.Read(key)
	if err := vfs.WriteFileAtomic(fsys, path, key, 0o600); err != nil {
		return nil, err
	}
	return key, nil
}

// refreshScramShapes recomputes the shape of fake credentials from the
// stored ones: per mechanism the most common (salt length, iterations),
// ties going to the longer salt, then the higher count.
func (b *Broker) refreshScramShapes() {
	counts := map[string]map[scramShape]int{}
	for _, u := range b.creds.UserNames() {
		for _, m := range []auth.ScramMechanism{auth.ScramSHA256, auth.ScramSHA512} {
			if cr, ok := b.creds.Get(u, m.Name); ok {
				if counts[m.Name] == nil {
					counts[m.Name] = map[scramShape]int{}
				}
				counts[m.Name][scramShape{len(cr.Salt), cr.Iterations}]++
			}
		}
	}
	shapes := map[string]scramShape{}
	for m, c := range counts {
		var best scramShape
		for s, n := range c {
			if bn := c[best]; n > bn || n == bn && (s.saltLen > best.saltLen || s.saltLen == best.saltLen && s.iterations > best.iterations) {
				best = s
			}
		}
		shapes[m] = best
	}
	b.sg.shapeMu.Lock()
	b.sg.shapes = shapes
	b.sg.shapeMu.Unlock()
}

// fakeScram is the credential an unknown user of mechanism m appears to
// have.
func (b *Broker) fakeScram(m auth.ScramMechanism, user string) auth.ScramCredential {
	b.sg.shapeMu.RLock()
	s, ok := b.sg.shapes[m.Name]
	b.sg.shapeMu.RUnlock()
	if !ok || s.saltLen == 0 {
		s = scramShape{auth.FakeSaltLen, auth.FakeIterations}
	}
	return m.FakeCredentialLike(b.sg.fakeKey, user, s.saltLen, s.iterations)
}

// failedAuthDelay waits connection.failed.authentication.delay.ms, or
// until shutdown.
func (c *conn) failedAuthDelay() {
	c.mute(c.b.sg.delay)
}

// failureLimiter is a token bucket per key: perMinute failures a minute,
// bursting to perMinute.
type failureLimiter struct {
	capacity float64
	mu       sync.Mutex
	buckets  map[string]*authBucket
}

type authBucket struct {
	tokens float64
	at     time.Time
}

func newFailureLimiter(perMinute int64) *failureLimiter {
	return &failureLimiter{capacity: float64(perMinute), buckets: map[string]*authBucket{}}
}

// level returns b's tokens at now.
func (l *failureLimiter) level(b *authBucket, now time.Time) float64 {
	elapsed := max(now.Sub(b.at), 0)
	return min(l.capacity, b.tokens+l.capacity*elapsed.Seconds()/authLimiterRefillEvery.Seconds())
}

// allowed reports whether key may fail once more at now. A nil limiter
// allows everything.
func (l *failureLimiter) allowed(key string, now time.Time) bool {
	if l == nil {
		return true
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	b, ok := l.buckets[key]
	return !ok || l.level(b, now) >= 1
}

// fail takes a token from key's bucket at now.
func (l *failureLimiter) fail(key string, now time.Time) {
	if l == nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	b, ok := l.buckets[key]
	if !ok {
		if len(l.buckets) >= maxAuthLimiterKeys {
			l.evict(now)
		}
		b = &authBucket{tokens: l.capacity, at: now}
		l.buckets[key] = b
	}
	b.tokens = max(l.level(b, now)-1, 0)
	b.at = now
}

// evict drops the refilled buckets, or if none, an arbitrary eighth of
// them.
func (l *failureLimiter) evict(now time.Time) {
	for k, b := range l.buckets {
		if l.level(b, now) >= l.capacity {
			delete(l.buckets, k)
		}
	}
	for k := range l.buckets {
		if len(l.buckets) < maxAuthLimiterKeys*7/8 {
			break
		}
		delete(l.buckets, k)
	}
}

// size is the number of keys tracked; for tests.
func (l *failureLimiter) size() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.buckets)
}
