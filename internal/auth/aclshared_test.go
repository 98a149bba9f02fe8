package auth

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

// TestSetSharedReplaces: ACLs held before SetShared (a file's) give way
// to the shared copy, even an empty one.
func TestSetSharedReplaces(t *testing.T) {
	a, err := NewACLAuthorizer(ACLConfig{})
	if err != nil {
		t.Fatal(err)
	}
	if err := a.CreateACLs([]ACL{allow(ResourceTopic, "x", PatternLiteral, "User:alice", "*", OpRead)}); err != nil {
		t.Fatal(err)
	}
	a.SetShared(&memShared{})
	if err := a.ApplyShared(nil, 0); err != nil || len(a.ACLs()) != 0 {
		t.Fatalf("after loading an empty shared copy: %v %v", err, a.ACLs())
	}
}

func TestSharedACLs(t *testing.T) {
	m := &memShared{}
	newA := func() *ACLAuthorizer {
		a, err := NewACLAuthorizer(ACLConfig{})
		if err != nil {
			t.Fatal(err)
		}
		a.SetShared(m)
		return a
	}
	a, b := newA(), newA()
	x := allow(ResourceTopic, "x", PatternLiteral, "User:alice", "*", OpRead)
	y := allow(ResourceTopic, "y", PatternLiteral, "User:alice", "*", OpRead)
	z := allow(ResourceTopic, "z", PatternLiteral, "User:bob", "*", OpWrite)
	if err := a.CreateACLs([]ACL{x}); err != nil {
		t.Fatal(err)
	}
	if got := a.ACLs(); len(got) != 1 {
		t.Fatalf("a after its create: %v", got)
	}
	// b has not seen x; its create is computed from the shared copy, and
	// another broker's z lands between its read and its swap.
	m.interfere = func(cur []byte) []byte {
		acls, _ := decodeACLs(cur)
		data, _ := encodeACLs(append(acls, z))
		return data
	}
	runs := m.runs
	if err := b.CreateACLs([]ACL{y}); err != nil {
		t.Fatal(err)
	}
	if m.runs-runs != 2 {
		t.Fatalf("the contended create ran %d times, want 2", m.runs-runs)
	}
	if got := b.ACLs(); len(got) != 3 {
		t.Fatalf("b after its create: %v, want x, y and z", got)
	}
	// The watch brings the shared copy to a; an older one changes nothing.
	if err := a.ApplyShared(m.data, m.rev); err != nil || len(a.ACLs()) != 3 {
		t.Fatalf("a after applying: %v %v", err, a.ACLs())
	}
	if err := a.ApplyShared(nil, 1); err != nil || len(a.ACLs()) != 3 {
		t.Fatalf("an older copy was applied: %v %v", err, a.ACLs())
	}
	if err := a.ApplyShared([]byte("{}"), m.rev+10); !errors.Is(err, ErrCorruptACLs) || len(a.ACLs()) != 3 {
		t.Fatalf("unreadable copy: %v %v", err, a.ACLs())
	}
	del, err := a.DeleteACLs([]ACLFilter{{ResourceType: ResourceTopic, PatternType: PatternAny, Operation: OpWrite, Permission: PermissionAny}})
	if err != nil || len(del[0]) != 1 || del[0][0] != z || len(a.ACLs()) != 2 {
		t.Fatalf("delete: %v %v %v", del, err, a.ACLs())
	}
	m.fail = errors.New("etcd down")
	if err := a.CreateACLs([]ACL{z}); !errors.Is(err, m.fail) || len(a.ACLs()) != 2 {
		t.Fatalf("create with the store down: %v %v", err, a.ACLs())
	}
	if _, err := a.DeleteACLs([]ACLFilter{MatchAll}); !errors.Is(err, m.fail) || len(a.ACLs()) != 2 {
		t.Fatalf("delete with the store down: %v %v", err, a.ACLs())
	}
}
