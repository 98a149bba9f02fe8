package auth

import (
	"encoding/base64"
	"errors"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/scram"
)

// runScram drives a ScramServer with franz-go's client.
func runScram(t *testing.T, m ScramMechanism, stored map[string]ScramCredential, user, pass string) error {
	t.Helper()
	var mech sasl.Mechanism
	if m.Name == ScramSHA256.Name {
		mech = scram.Auth{User: user, Pass: pass}.AsSha256Mechanism()
	} else {
		mech = scram.Auth{User: user, Pass: pass}.AsSha512Mechanism()
	}
	sess, msg, err := mech.Authenticate(t.Context(), "127.0.0.1:9092")
	if err != nil {
		t.Fatal(err)
	}
	srv := NewScramServer(m, func(u string) (ScramCredential, bool) { c, ok := stored[u]; return c, ok })
	for {
		reply, done, err := srv.Step(msg)
		if err != nil {
			return err
		}
		cdone, next, err := sess.Challenge(reply)
		if err != nil {
			return err
		}
		if done != cdone {
			t.Fatalf("server done %v, client done %v", done, cdone)
		}
		if done {
			return nil
		}
		msg = next
	}
}

func credFor(t *testing.T, m ScramMechanism, pass string) ScramCredential {
	salt := []byte("0123456789abcdef")
	sp, err := m.SaltedPassword(pass, salt, 4096)
	if err != nil {
		t.Fatal(err)
	}
	return m.Credential(salt, sp, 4096)
}

func TestScramExchange(t *testing.T) {
	for _, m := range []ScramMechanism{ScramSHA256, ScramSHA512} {
		stored := map[string]ScramCredential{"alice": credFor(t, m, "pencil"), "a,b=c": credFor(t, m, "x")}
		if err := runScram(t, m, stored, "alice", "pencil"); err != nil {
			t.Errorf("%s: %v", m.Name, err)
		}
		if err := runScram(t, m, stored, "a,b=c", "x"); err != nil {
			t.Errorf("%s escaped name: %v", m.Name, err)
		}
		if err := runScram(t, m, stored, "alice", "wrong"); !errors.Is(err, ErrScramBadProof) {
			t.Errorf("%s wrong password: %v", m.Name, err)
		}
		if err := runScram(t, m, stored, "bob", "pencil"); !errors.Is(err, ErrScramUnknownUser) {
			t.Errorf("%s unknown user: %v", m.Name, err)
		}
		if !m.VerifyPassword(stored["alice"], "pencil") || m.VerifyPassword(stored["alice"], "pencil2") {
			t.Errorf("%s: VerifyPassword", m.Name)
		}
	}
}

// TestScramRFC7677 checks the exchange against RFC 7677's SHA-256 example.
func TestScramRFC7677(t *testing.T) {
	salt, _ := base64.StdEncoding.DecodeString("W22ZaJ0SNY7soEsUEjb6gQ==")
	sp, _ := ScramSHA256.SaltedPassword("pencil", salt, 4096)
	cred := ScramSHA256.Credential(salt, sp, 4096)
	srv := NewScramServer(ScramSHA256, func(string) (ScramCredential, bool) { return cred, true })
	first, _, err := srv.Step([]byte("n,,n=user,r=rOprNGfwEbeRWgbNEkqO"))
	if err != nil {
		t.Fatal(err)
	}
	// Replace the random server nonce with the RFC's to reuse its proof.
	srv.nonce = "rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0"
	srv.serverFirst = "r=" + srv.nonce + ",s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"
	if !strings.HasPrefix(string(first), "r=rOprNGfwEbeRWgbNEkqO") {
		t.Fatalf("server-first %q", first)
	}
	final, done, err := srv.Step([]byte("c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="))
	if err != nil || !done {
		t.Fatalf("final: %v %v", err, done)
	}
	if string(final) != "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=" {
		t.Fatalf("server-final %q", final)
	}
}

func TestScramMalformed(t *testing.T) {
	cred := credFor(t, ScramSHA256, "p")
	lookup := func(string) (ScramCredential, bool) { return cred, true }
	for _, first := range []string{
		"", "n", "n,", "p=tls-unique,,n=u,r=x", "x,,n=u,r=x", "n,,r=x", "n,,n=,r=x", "n,,n=u", "n,,n=u,r=",
		"n,,n=u=,r=x", "n,a=v,n=u,r=x", "n,,m=ext,n=u,r=x", "n,,n=u,r=x,tokenauth=true", "n,,n=u,r=a b",
	} {
		srv := NewScramServer(ScramSHA256, lookup)
		if _, _, err := srv.Step([]byte(first)); !errors.Is(err, ErrScramBadMessage) {
			t.Errorf("client-first %q: %v", first, err)
		}
	}
	for _, final := range []string{"", "c=biws", "c=biws,r=bad,p=AAAA", "c=eSws,r=NONCE,p=AAAA", "c=biws,r=NONCE,p=!!", "c=biws,r=NONCE,p=AAAA"} {
		srv := NewScramServer(ScramSHA256, lookup)
		first, _, err := srv.Step([]byte("n,,n=u,r=abc"))
		if err != nil {
			t.Fatal(err)
		}
		nonce := strings.TrimPrefix(strings.Split(string(first), ",")[0], "r=")
		if _, _, err := srv.Step([]byte(strings.ReplaceAll(final, "NONCE", nonce))); !errors.Is(err, ErrScramBadMessage) {
			t.Errorf("client-final %q: %v", final, err)
		}
	}
	srv := NewScramServer(ScramSHA256, lookup)
	srv.Step([]byte("n,,n=u,r=abc"))
	srv.Step([]byte("c=biws"))
	if _, _, err := srv.Step([]byte("again")); err == nil {
		t.Error("a finished exchange took another step")
	}
}

// FuzzScramServer feeds arbitrary client messages to both steps: no panic,
// and never success without the right proof.
func FuzzScramServer(f *testing.F) {
	f.Add([]byte("n,,n=user,r=rOprNGfwEbeRWgbNEkqO"), []byte("c=biws,r=rOprNGfwEbeRWgbNEkqO,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="))
	f.Add([]byte("y,a=u,n=u,r=x,ext=1"), []byte("c=eSxhPXUs,r=x,p="))
	f.Add([]byte("n,,n=a=2Cb=3D,r=x"), []byte(""))
	salt := []byte("salt")
	sp, _ := ScramSHA256.SaltedPassword("pw", salt, 4096)
	cred := ScramSHA256.Credential(salt, sp, 4096)
	f.Fuzz(func(t *testing.T, first, final []byte) {
		srv := NewScramServer(ScramSHA256, func(string) (ScramCredential, bool) { return cred, true })
		if _, _, err := srv.Step(first); err != nil {
			return
		}
		if _, done, err := srv.Step(final); done || err == nil {
			t.Fatalf("a fuzzed proof was accepted: %q %q", first, final)
		}
	})
}
