package streams

import (
	"fmt"
	"sort"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestGateRecoveryLag: the leader moves a planned partition from a member
// whose copy lags more than acceptable to the caught-up member with the
// least lag, with its co-partitioned topics; a partition no member is
// caught up on, or whose planned member is, stays.
func TestGateRecoveryLag(t *testing.T) {
	plan := func() []map[string][]int32 {
		return []map[string][]int32{
			{"in": {0, 1}, "in2": {0, 1}, "app-__leader": {0}},
			{"in": {2, 3}, "in2": {2, 3}},
			{},
		}
	}
	counts := map[string]int32{"in": 4, "in2": 4, "app-__leader": 1}
	tables := map[string]string{"t": "in"}
	lags := []map[string]map[int32]int64{
		{"t": {0: 0, 2: 7}},     // m0: owns 0; no copy of 1; a copy of 2, 7 behind
		{"t": {2: 50000, 3: 0}}, // m1: planned 2 and 3, its copy of 2 far behind
		{"t": {2: 5}},           // m2: a copy of 2, 5 behind
	}
	for _, tc := range []struct {
		acceptable int64
		want       string
		moved      int
	}{
		// 2 goes to m2 (5 < 7); 1 stays on m0 (nobody has a copy).
		{10000, "[map[app-__leader:[0] in:[0 1] in2:[0 1]] map[in:[3] in2:[3]] map[in:[2] in2:[2]]]", 1},
		// Nobody is within 0 of 2: the plan stands.
		{0, "[map[app-__leader:[0] in:[0 1] in2:[0 1]] map[in:[2 3] in2:[2 3]] map[]]", 0},
		// Within 6 only m2's copy counts.
		{6, "[map[app-__leader:[0] in:[0 1] in2:[0 1]] map[in:[3] in2:[3]] map[in:[2] in2:[2]]]", 1},
	} {
		a := plan()
		warm := gateRecoveryLag(a, counts, tables, lags, nil, tc.acceptable)
		moved := 0
		for _, w := range warm {
			moved += len(w["in"])
		}
		// The planned member warms up what it was kept from, every topic of it.
		if tc.moved > 0 && fmt.Sprint(warm[1]) != "map[in:[2] in2:[2]]" {
			t.Errorf("acceptable %d: warm-ups %v, want m1 to warm up partition 2", tc.acceptable, warm)
		}
		for i := range a {
			for tp, ps := range a[i] {
				if len(ps) == 0 {
					delete(a[i], tp)
				}
			}
		}
		if got := fmt.Sprint(a); got != tc.want || moved != tc.moved {
			t.Errorf("acceptable %d: moved %d, assignment %s; want %d, %s", tc.acceptable, moved, got, tc.moved, tc.want)
		}
	}
	// A member without a copy lags by the changelog's end offset (Kafka
	// Streams' offset sum 0): within the acceptable lag it is caught up.
	a0 := plan()
	noCopy := []map[string]map[int32]int64{{"t": {2: 1}}, nil, nil}
	ends := map[string]map[int32]int64{"t": {0: 0, 1: 0, 2: 30, 3: 5}}
	if warm := gateRecoveryLag(a0, counts, tables, noCopy, ends, 10); fmt.Sprint(warm) != "[map[] map[in:[2] in2:[2]] map[]]" {
		t.Errorf("with end offsets: warm-ups %v, want partition 2 (end 30 > 10) kept from m1 only", warm)
	}
	if got := fmt.Sprint(a0[0]["in"], a0[1]["in"]); got != "[0 1 2] [3]" {
		t.Errorf("with end offsets: m0 %v, m1 %v; want 2 moved to m0 (lag 1), 3 (end 5) left on m1", a0[0]["in"], a0[1]["in"])
	}
	// Equal lags: the member with fewer partitions.
	a := plan()
	lags2 := []map[string]map[int32]int64{{"t": {0: 0, 1: 0, 2: 0}}, {"t": {3: 0}}, {"t": {2: 0}}}
	gateRecoveryLag(a, counts, tables, lags2, nil, 0)
	if got := fmt.Sprint(a[2]["in"]); got != "[2]" {
		t.Errorf("partition 2 went to %v of m2; want m2 (no partitions) over m0 (3)", got)
	}
}

// TestMemberData: a member's user data is its bare query address without
// lags (as before lags were reported), JSON with them; both parse.
func TestMemberData(t *testing.T) {
	if b := (memberData{Addr: "h:1"}).encode(); string(b) != "h:1" {
		t.Errorf("encode without lags = %q", b)
	}
	d := memberData{Addr: "h:1", Lags: map[string]map[int32]int64{"t": {3: 12}}}
	got := parseMemberData(d.encode())
	if got.Addr != "h:1" || got.Lags["t"][3] != 12 {
		t.Errorf("round trip = %+v", got)
	}
	if got := parseMemberData([]byte("10.0.0.1:8080")); got.Addr != "10.0.0.1:8080" || got.Lags != nil {
		t.Errorf("bare address = %+v", got)
	}
	if got := parseMemberData(nil); got.Addr != "" {
		t.Errorf("empty = %+v", got)
	}
}

// planBalancer is a fixed plan, standing for the range assignor.
type planBalancer struct{ plan map[string]map[string][]int32 }

func (b planBalancer) Balance(map[string]int32) kgo.IntoSyncAssignment {
	var out syncAssignments
	ids := make([]string, 0, len(b.plan))
	for id := range b.plan {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		a := kmsg.ConsumerMemberAssignment{Topics: assignmentTopics(b.plan[id])}
		out = append(out, kmsg.SyncGroupRequestGroupAssignment{MemberID: id, MemberAssignment: a.AppendTo(nil)})
	}
	return out
}

// TestStandbyBalancerGate: the leader's assignments after the gate: the
// partition moves from the planned member to the caught-up one (both
// assignments change, every partition is assigned once), and the planned
// member gets it as a standby to warm up.
func TestStandbyBalancerGate(t *testing.T) {
	b := &standbyMemberBalancer{
		GroupMemberBalancer: planBalancer{map[string]map[string][]int32{
			"m0": {"in": {0, 1}},
			"m1": {"in": {2, 3}},
		}},
		n: 1, acceptable: 10,
		lags:   map[string]map[string]map[int32]int64{"m0": {"t": {0: 0, 1: 0, 2: 0, 3: 0}}, "m1": {"t": {3: 0}}},
		tables: map[string]string{"t": "in"},
	}
	into, err := b.BalanceOrError(map[string]int32{"in": 4})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, a := range into.IntoSyncAssignment() {
		var ca kmsg.ConsumerMemberAssignment
		if err := ca.ReadFrom(a.MemberAssignment); err != nil {
			t.Fatal(err)
		}
		got[a.MemberID] = fmt.Sprint(assignmentMap(ca), " standby ", parseStandbys(a.MemberAssignment))
	}
	want := map[string]string{
		"m0": "map[in:[0 1 2]] standby map[in:[3]]",
		"m1": "map[in:[3]] standby map[in:[0 1 2]]",
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("assignments\n got %v\nwant %v", got, want)
	}
}
