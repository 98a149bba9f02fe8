package quota

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
			continue // the swap's compare fails: read again
		}
		if bytes.Equal(out, cur) {
			return rev, nil
		}
		m.data, m.rev = out, m.rev+1
		return m.rev, nil
	}
}

func TestSharedStore(t *testing.T) {
	m := &memShared{}
	a, b := NewShared(m), NewShared(m)
	alice := Entity{User: named("alice")}
	app := Entity{ClientID: named("app")}
	if err := a.Alter(map[Entity][]Op{alice: {{Key: ProducerByteRate, Value: 100}}}); err != nil {
		t.Fatal(err)
	}
	if l := a.Lookup(ProducerByteRate, "alice", "x"); !l.OK || l.Value != 100 || !a.Active() {
		t.Fatalf("a after its alter: %+v", l)
	}
	// b has not seen it: its change is computed from the shared copy, so
	// alice's quota survives b's alter, and the broker's watch brings it.
	m.interfere = func(cur []byte) []byte {
		q, _ := decode(cur)
		q[Entity{User: dflt}] = map[string]float64{ConsumerByteRate: 7}
		data, _ := encode(q)
		return data
	}
	runs := m.runs
	if err := b.Alter(map[Entity][]Op{app: {{Key: ConsumerByteRate, Value: 50}}}); err != nil {
		t.Fatal(err)
	}
	if m.runs-runs != 2 {
		t.Fatalf("the contended alter ran %d times, want 2", m.runs-runs)
	}
	for _, s := range []*Store{a, b} {
		if err := s.ApplyShared(m.data, m.rev); err != nil {
			t.Fatal(err)
		}
		if got := len(s.Entries()); got != 3 {
			t.Fatalf("%d entities after applying, want alice, app and the default user: %+v", got, s.Entries())
		}
	}
	// An older copy (a late watch event) changes nothing.
	old, _ := encode(map[Entity]map[string]float64{})
	if err := a.ApplyShared(old, 1); err != nil || len(a.Entries()) != 3 {
		t.Fatalf("an older copy was applied: %v %+v", err, a.Entries())
	}
	// An unreadable copy is refused and changes nothing.
	if err := a.ApplyShared([]byte("{"), m.rev+10); !errors.Is(err, ErrCorrupt) || len(a.Entries()) != 3 {
		t.Fatalf("unreadable copy: %v %+v", err, a.Entries())
	}
	// A failed store changes nothing.
	m.fail = errors.New("etcd down")
	if err := a.Alter(map[Entity][]Op{alice: {{Key: ProducerByteRate, Remove: true}}}); !errors.Is(err, m.fail) {
		t.Fatalf("alter with the store down: %v", err)
	}
	if l := a.Lookup(ProducerByteRate, "alice", "x"); !l.OK {
		t.Fatal("a failed alter was applied")
	}
}
