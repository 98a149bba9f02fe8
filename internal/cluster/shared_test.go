package cluster

import (
	"context"
	"errors"
	"strings"
	"testing"
)

type sharedSeen struct {
	name string
	data string
	rev  int64
}

func TestSharedUpdateCASAndWatch(t *testing.T) {
	e := startEtcd(t, 128)
	a, b := e.open(t, nil), e.open(t, nil)
	seen := newLatest[sharedSeen]()
	w := b.WatchShared(ctxT(t), func(name string, data []byte, rev int64) {
		if name == SharedACLs {
			seen.set(sharedSeen{name, string(data), rev})
		}
	})
	defer w.Stop()
	seen.waitFor(t, "the first snapshot", func(s sharedSeen) bool { return s.data == "" && s.rev == 0 })

	if data, rev, err := a.Shared(ctxT(t), SharedACLs); err != nil || data != nil || rev != 0 {
		t.Fatalf("missing key: %q %d %v", data, rev, err)
	}
	data, rev1, err := a.UpdateShared(ctxT(t), SharedACLs, func(cur []byte) ([]byte, error) {
		if cur != nil {
			t.Errorf("first update saw %q", cur)
		}
		return []byte("one"), nil
	})
	if err != nil || string(data) != "one" || rev1 == 0 {
		t.Fatalf("first update: %q %d %v", data, rev1, err)
	}
	seen.waitFor(t, "one", func(s sharedSeen) bool { return s.data == "one" && s.rev == rev1 })

	// A conflicting write between the read and the compare-and-swap: next
	// runs again on etcd's newer copy, and both changes survive.
	runs := 0
	data, rev2, err := a.UpdateShared(ctxT(t), SharedACLs, func(cur []byte) ([]byte, error) {
		runs++
		if runs == 1 {
			if _, _, err := b.UpdateShared(ctxT(t), SharedACLs, func(cur []byte) ([]byte, error) {
				return append(cur, "+b"...), nil
			}); err != nil {
				t.Errorf("b's update: %v", err)
			}
		}
		return append(cur, "+a"...), nil
	})
	if err != nil || string(data) != "one+b+a" || runs != 2 || rev2 <= rev1 {
		t.Fatalf("contended update: %q rev %d after %d runs: %v", data, rev2, runs, err)
	}
	seen.waitFor(t, "one+b+a", func(s sharedSeen) bool { return s.data == "one+b+a" && s.rev == rev2 })

	// No change: nothing written, the stored revision returned.
	if data, rev, err := a.UpdateShared(ctxT(t), SharedACLs, func(cur []byte) ([]byte, error) { return cur, nil }); err != nil ||
		string(data) != "one+b+a" || rev != rev2 {
		t.Fatalf("no-op update: %q %d %v", data, rev, err)
	}
	// An error of next is returned as is, nothing written.
	refuse := errors.New("refused")
	if _, _, err := a.UpdateShared(ctxT(t), SharedACLs, func([]byte) ([]byte, error) { return nil, refuse }); !errors.Is(err, refuse) {
		t.Fatalf("refused update: %v", err)
	}
	if _, _, err := a.UpdateShared(ctxT(t), "other", func(cur []byte) ([]byte, error) { return cur, nil }); !errors.Is(err, ErrInvalid) {
		t.Fatalf("unknown document: %v", err)
	}
	// Another document does not reach the ACLs' callback, and a client
	// opened later reads the current value.
	if _, _, err := a.UpdateShared(ctxT(t), SharedQuotas, func([]byte) ([]byte, error) { return []byte("q"), nil }); err != nil {
		t.Fatal(err)
	}
	c := e.open(t, nil)
	if data, rev, err := c.Shared(ctxT(t), SharedACLs); err != nil || string(data) != "one+b+a" || rev != rev2 {
		t.Fatalf("late reader: %q %d %v", data, rev, err)
	}
	got := newLatest[sharedSeen]()
	w2 := c.WatchShared(ctxT(t), func(name string, data []byte, rev int64) {
		if name == SharedQuotas {
			got.set(sharedSeen{name, string(data), rev})
		}
	})
	defer w2.Stop()
	got.waitFor(t, "the quotas in the snapshot", func(s sharedSeen) bool { return s.data == "q" })
}

func TestSharedUnavailable(t *testing.T) {
	e := startEtcd(t, 128)
	a := e.open(t, func(c *Config) { c.RequestTimeout = 500e6 })
	e.stop()
	ctx, cancel := context.WithTimeout(context.Background(), 5e9)
	defer cancel()
	_, _, err := a.UpdateShared(ctx, SharedCredentials, func(cur []byte) ([]byte, error) { return []byte("x"), nil })
	if !Retriable(err) || !strings.Contains(err.Error(), "shared/credentials") {
		t.Fatalf("update with etcd down: %v, want a retriable error naming the key", err)
	}
}
