package streams

import (
	"context"
	"testing"
	"time"
)

// TestWindowedQueryLocal: Query and QueryWindows read a key's windows from
// the committed store, and an expired window is not returned.
func TestWindowedQueryLocal(t *testing.T) {
	// Tumbling 10 ms windows, no grace, kept until 10 ms after their end.
	a := newWinApp(t, AtLeastOnce, TumblingWindows(10*time.Millisecond).Grace(0).Expires(10*time.Millisecond), 1)
	ctx := context.Background()
	a.send(t, winRec{"a", 1}, winRec{"a", 5}, winRec{"a", 12}, winRec{"b", 13})
	ws, err := a.table.QueryWindows(ctx, "a")
	if err != nil {
		t.Fatal(err)
	}
	want := []WindowValue[int64]{{msWindow(0, 10), 2}, {msWindow(10, 20), 1}}
	if len(ws) != len(want) {
		t.Fatalf("QueryWindows(a) = %v, want %v", ws, want)
	}
	for i := range want {
		if !ws[i].Window.Start.Equal(want[i].Window.Start) || !ws[i].Window.End.Equal(want[i].Window.End) || ws[i].Value != want[i].Value {
			t.Errorf("QueryWindows(a)[%d] = %v, want %v", i, ws[i], want[i])
		}
	}
	if v, ok, err := a.table.Query(ctx, "a", time.UnixMilli(10)); err != nil || !ok || v != 1 {
		t.Errorf("Query(a, 10) = %d %v %v, want 1", v, ok, err)
	}
	for _, start := range []int64{5, 20, -10} {
		if v, ok, err := a.table.Query(ctx, "a", time.UnixMilli(start)); err != nil || ok {
			t.Errorf("Query(a, %d) = %d %v %v, want not found", start, v, ok, err)
		}
	}
	if ws, err := a.table.QueryWindows(ctx, "nope"); err != nil || len(ws) != 0 {
		t.Errorf("QueryWindows(nope) = %v %v, want none", ws, err)
	}
	// Stream time 20: [0, 10) expired (end 10 + 10), [10, 20) kept.
	a.send(t, winRec{"b", 20})
	if _, ok, err := a.table.Query(ctx, "a", time.UnixMilli(0)); err != nil || ok {
		t.Errorf("Query(a, 0) after expiry = %v %v, want not found", ok, err)
	}
	if ws, err := a.table.QueryWindows(ctx, "a"); err != nil || len(ws) != 1 || ws[0].Value != 1 {
		t.Errorf("QueryWindows(a) after expiry = %v %v, want [10, 20) only", ws, err)
	}
}

// TestStoreScan: scan yields exactly the keys with the prefix, in order,
// from both stores.
func TestStoreScan(t *testing.T) {
	ps, err := openPebbleStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer ps.close()
	for name, st := range map[string]store{"memory": newMemStore(), "pebble": ps} {
		ws := []kv{{k: []byte("a")}, {k: []byte("ab")}, {k: []byte("ab\xff")}, {k: []byte("ab\xff\xff")}, {k: []byte("ac")}, {k: []byte("b")}}
		if err := st.apply(ws, 1); err != nil {
			t.Fatal(err)
		}
		for prefix, want := range map[string][]string{"ab": {"ab", "ab\xff", "ab\xff\xff"}, "ab\xff": {"ab\xff", "ab\xff\xff"}, "x": nil, "": {"a", "ab", "ab\xff", "ab\xff\xff", "ac", "b"}} {
			var got []string
			for k := range st.scan([]byte(prefix)) {
				got = append(got, string(k))
			}
			if len(got) != len(want) {
				t.Errorf("%s: scan(%q) = %q, want %q", name, prefix, got, want)
				continue
			}
			for i := range want {
				if got[i] != want[i] {
					t.Errorf("%s: scan(%q) = %q, want %q", name, prefix, got, want)
					break
				}
			}
		}
	}
}
