package auth

// SCRAM (RFC 5802, with SHA-256 per RFC 7677 and SHA-512 as Kafka uses it),
// server side. ScramServer is a pure state machine: messages in, messages
// out, no I/O, so the exchange is tested and fuzzed without a network.
//
// The exchange, as Kafka's SaslAuthenticate carries it:
//
//	client-first  n,,n=alice,r=<cnonce>           (gs2 header, then the bare message)
//	server-first  r=<cnonce><snonce>,s=<b64 salt>,i=<iterations>
//	client-final  c=biws,r=<cnonce><snonce>,p=<b64 ClientProof>
//	server-final  v=<b64 ServerSignature>
//
// Keys: SaltedPassword = PBKDF2(H, password, salt, i); ClientKey =
// HMAC(SaltedPassword, "Client Key"); StoredKey = H(ClientKey); ServerKey =
// HMAC(SaltedPassword, "Server Key"). The broker stores only the salt, i,
// StoredKey and ServerKey. AuthMessage = client-first-bare + "," +
// server-first + "," + client-final-without-proof; ClientProof = ClientKey
// XOR HMAC(StoredKey, AuthMessage); ServerSignature = HMAC(ServerKey,
// AuthMessage).

import (
	"bytes"
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"errors"
	"fmt"
	"hash"
	"strconv"
	"strings"
)

// ScramMechanism is one SCRAM hash variant.
type ScramMechanism struct {
	Name string // SASL name: SCRAM-SHA-256
	Code int8   // Kafka's ScramMechanism wire code (1: SHA-256, 2: SHA-512)
	hash func() hash.Hash
	size int
}

// The SCRAM mechanisms Kafka defines.
var (
	ScramSHA256 = ScramMechanism{Name: "SCRAM-SHA-256", Code: 1, hash: sha256.New, size: sha256.Size}
	ScramSHA512 = ScramMechanism{Name: "SCRAM-SHA-512", Code: 2, hash: sha512.New, size: sha512.Size}
)

// Iteration bounds Kafka accepts for SCRAM credentials.
const (
	ScramMinIterations = 4096
	ScramMaxIterations = 16384
)

// ScramMechanismByName finds a mechanism by its SASL name.
func ScramMechanismByName(name string) (ScramMechanism, bool) {
	switch name {
	case ScramSHA256.Name:
		return ScramSHA256, true
	case ScramSHA512.Name:
		return ScramSHA512, true
	}
	return ScramMechanism{}, false
}

// ScramMechanismByCode finds a mechanism by its Kafka wire code.
func ScramMechanismByCode(code int8) (ScramMechanism, bool) {
	switch code {
	case ScramSHA256.Code:
		return ScramSHA256, true
	case ScramSHA512.Code:
		return ScramSHA512, true
	}
	return ScramMechanism{}, false
}

// ScramCredential is what the server keeps of a password.
type ScramCredential struct {
	Salt       []byte
	StoredKey  []byte
	ServerKey  []byte
	Iterations int32
}

// SaltedPassword is PBKDF2(H, password, salt, iterations).
func (m ScramMechanism) SaltedPassword(password string, salt []byte, iterations int) ([]byte, error) {
	return pbkdf2.Key(m.hash, password, salt, iterations, m.size)
}

// Credential derives the stored credential from a salted password (what
// AlterUserScramCredentials carries).
func (m ScramMechanism) Credential(salt, saltedPassword []byte, iterations int32) ScramCredential {
	clientKey := m.hmac(saltedPassword, []byte("Client Key"))
	h := m.hash()
	h.Write(clientKey)
	return ScramCredential{
		Salt:       bytes.Clone(salt), // salt may alias a pooled request buffer
		StoredKey:  h.Sum(nil),
		ServerKey:  m.hmac(saltedPassword, []byte("Server Key")),
		Iterations: iterations,
	}
}

// VerifyPassword reports whether password matches cred (used by PLAIN,
// which checks passwords against the SCRAM store). It costs one PBKDF2.
func (m ScramMechanism) VerifyPassword(cred ScramCredential, password string) bool {
	sp, err := m.SaltedPassword(password, cred.Salt, int(cred.Iterations))
	if err != nil {
		return false
	}
	got := m.Credential(cred.Salt, sp, cred.Iterations)
	return hmac.Equal(got.StoredKey, cred.StoredKey)
}

func (m ScramMechanism) hmac(key, msg []byte) []byte {
	mac := hmac.New(m.hash, key)
	mac.Write(msg)
	return mac.Sum(nil)
}

// SCRAM exchange errors. ErrScramBadMessage wraps a description of what was
// malformed; all of them are SASL_AUTHENTICATION_FAILED on the wire.
var (
	ErrScramBadMessage  = errors.New("malformed SCRAM message")
	ErrScramUnknownUser = errors.New("unknown user")
	ErrScramBadProof    = errors.New("invalid credentials")
)

// ScramServer runs one SCRAM exchange for the server.
type ScramServer struct {
	mech   ScramMechanism
	lookup func(user string) (ScramCredential, bool)

	step        int
	user        string
	known       bool
	cred        ScramCredential
	gs2Header   string
	nonce       string
	firstBare   string
	serverFirst string
}

// NewScramServer starts an exchange; lookup finds a user's credential for
// this mechanism.
func NewScramServer(m ScramMechanism, lookup func(user string) (ScramCredential, bool)) *ScramServer {
	return &ScramServer{mech: m, lookup: lookup}
}

// User is the user name the client gave (after client-first).
func (s *ScramServer) User() string { return s.user }

// Step consumes the client's next message and returns the server's reply;
// done is true after the final message was verified. An error ends the
// exchange.
func (s *ScramServer) Step(msg []byte) (reply []byte, done bool, err error) {
	switch s.step {
	case 0:
		s.step = 1
		reply, err = s.clientFirst(string(msg))
		if err != nil {
			s.step = 3
		}
		return reply, false, err
	case 1:
		s.step = 3
		reply, err = s.clientFinal(string(msg))
		return reply, err == nil, err
	}
	return nil, false, fmt.Errorf("%w: exchange already finished", ErrScramBadMessage)
}

func badf(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrScramBadMessage}, args...)...)
}

// clientFirst parses gs2-header client-first-bare.
func (s *ScramServer) clientFirst(msg string) ([]byte, error) {
	cbind, rest, ok := strings.Cut(msg, ",")
	if !ok {
		return nil, badf("missing GS2 header")
	}
	switch {
	case cbind == "n", cbind == "y":
	case strings.HasPrefix(cbind, "p="):
		return nil, badf("channel binding is not supported")
	default:
		return nil, badf("bad GS2 channel-binding flag %q", cbind)
	}
	authzid, bare, ok := strings.Cut(rest, ",")
	if !ok {
		return nil, badf("missing GS2 authzid field")
	}
	s.gs2Header = cbind + "," + authzid + ","
	s.firstBare = bare
	fields := strings.Split(bare, ",")
	if len(fields) < 2 {
		return nil, badf("client-first message needs n= and r=")
	}
	if strings.HasPrefix(fields[0], "m=") {
		return nil, badf("mandatory extensions are not supported")
	}
	name, ok := strings.CutPrefix(fields[0], "n=")
	if !ok {
		return nil, badf("client-first message must start with n=")
	}
	user, err := decodeSaslName(name)
	if err != nil {
		return nil, err
	}
	if user == "" {
		return nil, badf("empty user name")
	}
	if authzid != "" {
		az, ok := strings.CutPrefix(authzid, "a=")
		if !ok {
			return nil, badf("bad GS2 authzid %q", authzid)
		}
		if az, err = decodeSaslName(az); err != nil {
			return nil, err
		}
		if az != user {
			return nil, badf("authorization id %q differs from the user name", az)
		}
	}
	cnonce, ok := strings.CutPrefix(fields[1], "r=")
	if !ok || cnonce == "" || !printable(cnonce) {
		return nil, badf("bad client nonce")
	}
	for _, ext := range fields[2:] {
		k, v, ok := strings.Cut(ext, "=")
		if !ok || k == "" {
			return nil, badf("bad extension %q", ext)
		}
		if k == "tokenauth" && v == "true" {
			return nil, badf("delegation tokens are not supported")
		}
	}
	s.user = user
	s.cred, s.known = s.lookup(user)
	if !s.known && len(s.cred.Salt) == 0 {
		// Answer as for a real user, so that a client cannot tell which
		// user names exist; the exchange fails at the proof. A lookup
		// may return its own fake (FakeCredentialLike) with ok false.
		s.cred = s.mech.FakeCredential(user)
	}
	snonce := make([]byte, 24)
	rand.Read(snonce)
	s.nonce = cnonce + base64.RawStdEncoding.EncodeToString(snonce)
	s.serverFirst = "r=" + s.nonce + ",s=" + base64.StdEncoding.EncodeToString(s.cred.Salt) + ",i=" + strconv.Itoa(int(s.cred.Iterations))
	return []byte(s.serverFirst), nil
}

// clientFinal parses c=...,r=...[,ext],p=... and checks the proof.
func (s *ScramServer) clientFinal(msg string) ([]byte, error) {
	i := strings.LastIndex(msg, ",p=")
	if i < 0 {
		return nil, badf("client-final message has no proof")
	}
	withoutProof, proofB64 := msg[:i], msg[i+3:]
	fields := strings.Split(withoutProof, ",")
	if len(fields) < 2 {
		return nil, badf("client-final message needs c= and r=")
	}
	cb, ok := strings.CutPrefix(fields[0], "c=")
	if !ok {
		return nil, badf("client-final message must start with c=")
	}
	if raw, err := base64.StdEncoding.DecodeString(cb); err != nil || string(raw) != s.gs2Header {
		return nil, badf("channel binding does not match the GS2 header")
	}
	// As Kafka's ScramSaslServer, require the nonce to end with the
	// server's: librdkafka 2.x sends its client nonce twice.
	if nonce, ok := strings.CutPrefix(fields[1], "r="); !ok || !strings.HasSuffix(nonce, s.nonce) {
		return nil, badf("nonce mismatch")
	}
	proof, err := base64.StdEncoding.DecodeString(proofB64)
	if err != nil || len(proof) != s.mech.size {
		return nil, badf("bad client proof")
	}
	authMsg := []byte(s.firstBare + "," + s.serverFirst + "," + withoutProof)
	sig := s.mech.hmac(s.cred.StoredKey, authMsg)
	clientKey := make([]byte, len(proof))
	for j := range proof {
		clientKey[j] = proof[j] ^ sig[j]
	}
	h := s.mech.hash()
	h.Write(clientKey)
	if !hmac.Equal(h.Sum(nil), s.cred.StoredKey) || !s.known {
		if !s.known {
			return nil, ErrScramUnknownUser
		}
		return nil, ErrScramBadProof
	}
	return []byte("v=" + base64.StdEncoding.EncodeToString(s.mech.hmac(s.cred.ServerKey, authMsg))), nil
}

// decodeSaslName undoes RFC 5802's escaping (=2C is ",", =3D is "=").
func decodeSaslName(s string) (string, error) {
	if !strings.Contains(s, "=") {
		return s, nil
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '=' {
			b.WriteByte(s[i])
			continue
		}
		switch {
		case strings.HasPrefix(s[i:], "=2C"):
			b.WriteByte(',')
		case strings.HasPrefix(s[i:], "=3D"):
			b.WriteByte('=')
		default:
			return "", badf("bad escape in user name")
		}
		i += 2
	}
	return b.String(), nil
}

func printable(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x21 || s[i] > 0x7e || s[i] == ',' {
			return false
		}
	}
	return true
}

// FakeSaltLen and FakeIterations are the shape of FakeCredential's
// credentials: the salt length kadm and "sluice user set" use, and their
// default iteration count.
const (
	FakeSaltLen    = 24
	FakeIterations = ScramMinIterations
)

// fakeKey makes the salts of FakeCredential stable within a process, so
// that repeated probes see the same answer as for a real user.
var fakeKey = func() []byte {
	k := make([]byte, 32)
	rand.Read(k)
	return k
}()

// FakeCredential is a credential no password matches, with a salt stable
// for the user within the process: what the broker pretends an unknown
// user has, so that answers and timing do not tell which users exist. Its
// salt is FakeSaltLen bytes and its iteration count FakeIterations. A
// broker uses FakeCredentialLike, with a key kept across restarts and the
// shape of its real users' credentials.
func (m ScramMechanism) FakeCredential(user string) ScramCredential {
	return m.FakeCredentialLike(fakeKey, user, FakeSaltLen, FakeIterations)
}

// FakeCredentialLike is a credential no password matches, with a salt of
// saltLen bytes (1 to 1024) derived from key (a secret) and the user name,
// and the given iteration count.
func (m ScramMechanism) FakeCredentialLike(key []byte, user string, saltLen int, iterations int32) ScramCredential {
	saltLen = min(max(saltLen, 1), 1024)
	salt := make([]byte, 0, saltLen+32)
	msg := []byte(m.Name + "\x00" + user + "\x00")
	for i := byte(0); len(salt) < saltLen; i++ {
		salt = append(salt, ScramSHA256.hmac(key, append(msg, i))...)
	}
	sk := make([]byte, m.size)
	rand.Read(sk)
	return ScramCredential{Salt: salt[:saltLen], StoredKey: sk, ServerKey: sk, Iterations: iterations}
}
