package quota

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/sluice-io/sluice/internal/vfs"
)

func openT(t *testing.T, dir string) *Store {
	t.Helper()
	s, err := Open(vfs.Default, dir)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func ent(user, client Component) Entity { return Entity{user, client} }

var none = Component{}

// Every level of Kafka's precedence, each shadowing all below it.
var levels = []struct {
	e            Entity
	user, client string // the names the rate is kept under
}{
	{ent(named("alice"), named("app")), "alice", "app"},
	{ent(named("alice"), dflt), "alice", "app"},
	{ent(named("alice"), none), "alice", ""},
	{ent(dflt, named("app")), "alice", "app"},
	{ent(dflt, dflt), "alice", "app"},
	{ent(dflt, none), "alice", ""},
	{ent(none, named("app")), "", "app"},
	{ent(none, dflt), "", "app"},
}

func TestLookupPrecedence(t *testing.T) {
	s := openT(t, t.TempDir())
	if l := s.Lookup(ProducerByteRate, "alice", "app"); l.OK {
		t.Fatalf("no quotas: got %+v", l)
	}
	if s.Active() {
		t.Fatal("active with no quotas")
	}
	// Set every level, value = its rank; then remove from the top: each
	// removal exposes the next level.
	changes := map[Entity][]Op{}
	for i, l := range levels {
		changes[l.e] = []Op{{Key: ProducerByteRate, Value: float64(i + 1)}}
	}
	if err := s.Alter(changes); err != nil {
		t.Fatal(err)
	}
	if !s.Active() {
		t.Fatal("not active")
	}
	for i, l := range levels {
		got := s.Lookup(ProducerByteRate, "alice", "app")
		want := Limit{Value: float64(i + 1), User: l.user, Client: l.client, OK: true}
		if got != want {
			t.Errorf("level %d (%s): got %+v, want %+v", i, l.e, got, want)
		}
		// Other users and clients fall through to what applies to them.
		if other := s.Lookup(ProducerByteRate, "bob", "app"); other.OK && other.Value < float64(i+1) && i >= 3 {
			t.Errorf("level %d: bob got %+v", i, other)
		}
		if got := s.Lookup(ConsumerByteRate, "alice", "app"); got.OK {
			t.Errorf("keys are resolved independently: got %+v", got)
		}
		if err := s.Alter(map[Entity][]Op{l.e: {{Key: ProducerByteRate, Remove: true}}}); err != nil {
			t.Fatal(err)
		}
	}
	if l := s.Lookup(ProducerByteRate, "alice", "app"); l.OK || s.Active() || len(s.Entries()) != 0 {
		t.Fatalf("after removing all: %+v active=%v entries=%v", l, s.Active(), s.Entries())
	}
}

func TestMutationRateIsNotActive(t *testing.T) {
	s := openT(t, t.TempDir())
	if err := s.Alter(map[Entity][]Op{ent(dflt, none): {{Key: ControllerMutationRate, Value: 5}}}); err != nil {
		t.Fatal(err)
	}
	if s.Active() {
		t.Fatal("controller_mutation_rate alone must not turn enforcement on")
	}
}

func TestPersistAndCorrupt(t *testing.T) {
	dir := t.TempDir()
	s := openT(t, dir)
	want := map[Entity][]Op{
		ent(named("alice"), dflt): {{Key: ProducerByteRate, Value: 1024}, {Key: RequestPercentage, Value: 12.5}},
		ent(none, named("")):      {{Key: ConsumerByteRate, Value: 2048}},
		ent(dflt, named("a/b c")): {{Key: ControllerMutationRate, Value: 3}},
	}
	if err := s.Alter(want); err != nil {
		t.Fatal(err)
	}
	s2 := openT(t, dir)
	if got, exp := s2.Entries(), s.Entries(); len(got) != 3 || len(exp) != 3 {
		t.Fatalf("reopened: %v", got)
	}
	if l := s2.Lookup(RequestPercentage, "alice", "x"); l.Value != 12.5 {
		t.Fatalf("reopened lookup: %+v", l)
	}
	path := filepath.Join(dir, fileName)
	data, _ := os.ReadFile(path)
	data[len(data)/2] ^= 1
	os.WriteFile(path, data, 0o644)
	if _, err := Open(vfs.Default, dir); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("corrupt file: got %v", err)
	}
	os.WriteFile(path, []byte(`{"version":2}`), 0o644)
	if _, err := Open(vfs.Default, dir); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("unknown version: got %v", err)
	}
}

func TestValidateValue(t *testing.T) {
	for _, c := range []struct {
		key string
		v   float64
		ok  bool
	}{
		{ProducerByteRate, 1024, true}, {ProducerByteRate, 1.5, false}, {ProducerByteRate, 0, false},
		{ConsumerByteRate, -1, false}, {RequestPercentage, 0.5, true}, {RequestPercentage, 0, false},
		{ControllerMutationRate, 2.5, true}, {"bogus", 1, false},
	} {
		if err := ValidateValue(c.key, c.v); (err == nil) != c.ok {
			t.Errorf("%s=%v: %v", c.key, c.v, err)
		}
	}
}

func TestManagerThrottle(t *testing.T) {
	s := openT(t, t.TempDir())
	if err := s.Alter(map[Entity][]Op{ent(none, named("slow")): {{Key: ProducerByteRate, Value: 1000}}}); err != nil {
		t.Fatal(err)
	}
	now := time.Unix(1000, 0)
	m := NewManager(s, func() time.Time { return now }, 11, time.Second)
	// The window is at least 10 s (samples-1 spans), so 10,000 bytes at
	// once is exactly the quota.
	if d := m.Record(Produce, "u", "slow", 10000); d != 0 {
		t.Fatalf("at quota: throttled %v", d)
	}
	// 1,000 more: rate 1,100/s, 10% over a 10 s window: 1 s.
	if d := m.Record(Produce, "u", "slow", 1000); d != time.Second {
		t.Fatalf("over quota: throttle %v, want 1s", d)
	}
	if d := m.Record(Produce, "u", "fast", 1e9); d != 0 {
		t.Fatalf("unlimited client throttled %v", d)
	}
	// A whole window later the samples are gone.
	now = now.Add(11 * time.Second)
	if d := m.Record(Produce, "u", "slow", 100); d != 0 {
		t.Fatalf("after the window: throttled %v", d)
	}
	// Fetch and request rates are separate.
	if d := m.Record(Fetch, "u", "slow", 1e9); d != 0 {
		t.Fatalf("fetch has no quota: throttled %v", d)
	}
}

// BenchmarkRecord is the per-request cost with quotas set: the lookup
// through the precedence levels and the rate update.
func BenchmarkRecord(b *testing.B) {
	dir := b.TempDir()
	s, err := Open(vfs.Default, dir)
	if err != nil {
		b.Fatal(err)
	}
	if err := s.Alter(map[Entity][]Op{{ClientID: dflt}: {{Key: ProducerByteRate, Value: 1 << 40}}}); err != nil {
		b.Fatal(err)
	}
	m := NewManager(s, time.Now, 11, time.Second)
	b.ReportAllocs()
	for b.Loop() {
		m.Record(Produce, "alice", "app", 1024)
	}
}
