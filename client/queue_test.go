package client

import (
	"context"
	"fmt"
	"sync"
	"testing"
)

// TestQueue: two queue consumers of one partition share its records, a
// released message comes back, a rejected one does not, and every record
// is accepted once.
func TestQueue(t *testing.T) {
	c, ctx := connect(t)
	if err := c.Admin().CreateTopic(ctx, TopicSpec{Name: "jobs", Partitions: 1}); err != nil {
		t.Fatal(err)
	}
	if err := c.Admin().SetGroupConfigs(ctx, "workers", map[string]string{"share.auto.offset.reset": "earliest"}); err != nil {
		t.Fatal(err)
	}
	if err := c.Admin().SetGroupConfigs(ctx, "workers", map[string]string{"share.auto.offset.reset": "sometimes"}); err == nil {
		t.Fatal("invalid group config accepted")
	}
	p, err := c.Producer("jobs", Linger(0))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	const n = 50
	for i := range n {
		if _, err := p.Send(ctx, nil, []byte(fmt.Sprint(i))); err != nil {
			t.Fatal(err)
		}
	}
	q1, err := c.Queue("workers", "jobs")
	if err != nil {
		t.Fatal(err)
	}
	defer q1.Close()
	q2, err := c.Queue("workers", "jobs")
	if err != nil {
		t.Fatal(err)
	}
	defer q2.Close()
	var mu sync.Mutex
	accepted := map[string]int{}
	released := false
	var rejected string
	all, stop := context.WithCancel(ctx)
	defer stop()
	var wg sync.WaitGroup
	for _, q := range []*Queue{q1, q2} {
		wg.Go(func() {
			for {
				msgs, err := q.Next(all)
				if err != nil {
					if all.Err() == nil {
						t.Error(err)
					}
					return
				}
				mu.Lock()
				for _, m := range msgs {
					v := m.ValueString()
					switch {
					case v == "7" && !released:
						m.Release()
						released = true
					case v == "13":
						if rejected != "" {
							t.Error("rejected message delivered again")
						}
						m.Reject()
						rejected = v
					default:
						m.Accept()
						accepted[v]++
					}
				}
				mu.Unlock()
				if err := q.Flush(ctx); err != nil {
					t.Error(err)
				}
				mu.Lock()
				if len(accepted) == n-1 {
					stop()
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if len(accepted) != n-1 {
		t.Fatalf("accepted %d distinct messages, want %d", len(accepted), n-1)
	}
	for v, k := range accepted {
		if k != 1 {
			t.Errorf("message %s accepted %d times", v, k)
		}
	}
	if accepted["7"] != 1 || rejected != "13" {
		t.Fatalf("released message accepted %d times, rejected %q", accepted["7"], rejected)
	}
}
