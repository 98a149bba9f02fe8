package streams

import (
	"fmt"
	"testing"
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
		warm := gateRecoveryLag(a, counts, tables, lags, tc.acceptable)
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
	// Equal lags: the member with fewer partitions.
	a := plan()
	lags2 := []map[string]map[int32]int64{{"t": {0: 0, 1: 0, 2: 0}}, {"t": {3: 0}}, {"t": {2: 0}}}
	gateRecoveryLag(a, counts, tables, lags2, 0)
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
