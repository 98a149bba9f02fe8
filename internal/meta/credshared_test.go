package meta

import (
	"bytes"
	"errors"
	"testing"
)

// memShared is an envelope.Shared in memory with etcd's compare-and-swap
// semantics; interfere, when set, is another broker's write landing
// between the next read and its swap (once).
type memShared struct {
	data      []byte
	rev       int64
	runs      int
	interfere func(cur []byte) []byte
	fail      error
}

func (m *memShared) Update(next func(cur []byte) ([]byte, error)) (int64, error) {
	if m.fail != nil {
		return 0, m.fail
	}
	for {
		cur, rev := m.data, m.rev
		out, err := next(cur)
		m.runs++
		if err != nil {
			return 0, err
		}
		if f := m.interfere; f != nil {
			m.interfere = nil
			m.data, m.rev = f(cur), m.rev+1
		}
		if m.rev != rev {
			continue
		}
		if bytes.Equal(out, cur) {
			return rev, nil
		}
		m.data, m.rev = out, m.rev+1
		return m.rev, nil
	}
}

func TestSharedCredentials(t *testing.T) {
	m := &memShared{}
	a, b := NewSharedCredentials(m, nil), NewSharedCredentials(m, nil)
	cred := ScramCredential{Salt: []byte("s"), StoredKey: []byte("k"), ServerKey: []byte("v"), Iterations: 4096}
	set := func(user string) CredentialChange {
		return CredentialChange{User: user, Mechanism: "SCRAM-SHA-256", Cred: cred}
	}
	if _, err := a.Alter([]CredentialChange{set("alice")}); err != nil {
		t.Fatal(err)
	}
	m.interfere = func(cur []byte) []byte {
		users, _ := decodeCredentials(cur)
		users["carol"] = map[string]ScramCredential{"SCRAM-SHA-512": cred}
		data, _ := encodeCredentials(users)
		return data
	}
	runs := m.runs
	errs, err := b.Alter([]CredentialChange{set("bob"), {User: "nobody", Mechanism: "SCRAM-SHA-256", Delete: true}})
	if err != nil || errs[0] != nil || !errors.Is(errs[1], ErrNoCredential) {
		t.Fatalf("b's alter: %v %v", errs, err)
	}
	if m.runs-runs != 2 {
		t.Fatalf("the contended alter ran %d times, want 2", m.runs-runs)
	}
	if got := b.UserNames(); len(got) != 3 {
		t.Fatalf("b's users: %v, want alice, bob and carol", got)
	}
	if _, ok := a.Get("bob", "SCRAM-SHA-256"); ok {
		t.Fatal("a has bob before the watch")
	}
	if err := a.ApplyShared(m.data, m.rev); err != nil {
		t.Fatal(err)
	}
	if _, ok := a.Get("bob", "SCRAM-SHA-256"); !ok {
		t.Fatal("a lacks bob after the watch")
	}
	if err := a.ApplyShared(nil, 1); err != nil || len(a.UserNames()) != 3 {
		t.Fatalf("an older copy was applied: %v %v", err, a.UserNames())
	}
	if err := a.ApplyShared([]byte("x"), m.rev+1); !errors.Is(err, ErrCorruptMetadata) {
		t.Fatalf("unreadable copy: %v", err)
	}
	m.fail = errors.New("etcd down")
	if _, err := a.Alter([]CredentialChange{{User: "alice", Mechanism: "SCRAM-SHA-256", Delete: true}}); !errors.Is(err, m.fail) {
		t.Fatalf("alter with the store down: %v", err)
	}
	if _, ok := a.Get("alice", "SCRAM-SHA-256"); !ok {
		t.Fatal("a failed alter was applied")
	}
}

// TestAlterGroupsAtomic: a group that deletes a missing credential
// changes nothing, on the file and on the shared copy; other groups apply.
func TestAlterGroupsAtomic(t *testing.T) {
	file, err := OpenCredentials(nil, t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	cred := ScramCredential{Salt: []byte("s"), StoredKey: []byte("k"), ServerKey: []byte("v"), Iterations: 4096}
	for name, c := range map[string]*Credentials{"file": file, "shared": NewSharedCredentials(&memShared{}, nil)} {
		errs, err := c.AlterGroups([][]CredentialChange{
			{{User: "alice", Mechanism: "SCRAM-SHA-256", Cred: cred}, {User: "alice", Mechanism: "SCRAM-SHA-512", Delete: true}},
			{{User: "bob", Mechanism: "SCRAM-SHA-256", Cred: cred}},
		})
		if err != nil || !errors.Is(errs[0], ErrNoCredential) || errs[1] != nil {
			t.Fatalf("%s: %v %v", name, errs, err)
		}
		if got := c.UserNames(); len(got) != 1 || got[0] != "bob" {
			t.Fatalf("%s: users %v, want bob alone", name, got)
		}
	}
}
