package streams_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/sluice-io/sluice/codec"
	"github.com/sluice-io/sluice/embed"
	"github.com/sluice-io/sluice/streams"
)

// rpcApp declares an agent "double" that replies to each request with
// twice its value, and counts every event it sees (asked or cast).
type rpcApp struct {
	app     *streams.App
	nums    *streams.Topic[string, int64]
	double  *streams.Agent[string, int64]
	replies *streams.ReplyTopic[int64]
	mu      sync.Mutex
	seen    []int64
}

func newRPCApp(t *testing.T, opts ...streams.Option) *rpcApp {
	t.Helper()
	app, err := streams.NewApp("rpc", append([]streams.Option{streams.Logger(quiet()), streams.InMemoryState(), streams.TopicPartitions(2)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	r := &rpcApp{app: app}
	r.nums = streams.NewTopic(app, "rpc-nums", codec.String(), codec.JSON[int64](), streams.Internal())
	r.replies = streams.NewReplyTopic(app, "rpc-replies", codec.JSON[int64]())
	r.double = streams.NewAgent(app, "double", r.nums, func(ctx context.Context, s *streams.Stream[string, int64]) error {
		for ev := range s.Events() {
			r.mu.Lock()
			r.seen = append(r.seen, ev.Value)
			r.mu.Unlock()
			if ev.Value < 0 {
				continue // no reply: the asker times out
			}
			if err := r.replies.Reply(ctx, ev, ev.Value*2); err != nil {
				return err
			}
		}
		return nil
	})
	return r
}

func TestDriverAskCast(t *testing.T) {
	r := newRPCApp(t)
	d := newDriver(t, r.app)
	ctx := context.Background()
	for _, v := range []int64{1, 21} {
		got, err := streams.Ask(ctx, r.double, r.replies, "k", v)
		if err != nil {
			t.Fatal(err)
		}
		if got != 2*v {
			t.Fatalf("Ask(%d) = %d, want %d", v, got, 2*v)
		}
	}
	if _, err := streams.Ask(ctx, r.double, r.replies, "k", -1); !errors.Is(err, streams.ErrNoReply) {
		t.Fatalf("Ask without a reply = %v, want ErrNoReply", err)
	}
	if err := r.double.Cast(ctx, "k", 5); err != nil {
		t.Fatal(err)
	}
	if err := d.Process(); err != nil {
		t.Fatal(err)
	}
	reps, err := streams.Output(d, streams.NewTopic(r.app, "rpc-replies", codec.String(), codec.JSON[int64]()))
	if err != nil {
		t.Fatal(err)
	}
	if len(reps) != 2 {
		t.Fatalf("%d replies, want 2 (none for the cast)", len(reps))
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if fmt.Sprint(r.seen) != "[1 21 -1 5]" {
		t.Fatalf("agent saw %v, want [1 21 -1 5]", r.seen)
	}
}

func TestAskAgainstBroker(t *testing.T) {
	addr := embed.ForTest(t)
	for _, g := range []streams.Guarantee{streams.AtLeastOnce, streams.ExactlyOnce} {
		t.Run(g.String(), func(t *testing.T) {
			r := newRPCApp(t, streams.Brokers(addr), streams.ProcessingGuarantee(g), streams.InstanceID(g.String()))
			stop := runApp(t, r.app)
			defer r.app.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			var wg sync.WaitGroup
			errs := make([]error, 8)
			for i := range 8 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					got, err := streams.Ask(ctx, r.double, r.replies, fmt.Sprint("k", i), int64(i))
					if err == nil && got != int64(2*i) {
						err = fmt.Errorf("Ask(%d) = %d", i, got)
					}
					errs[i] = err
				}()
			}
			wg.Wait()
			for _, err := range errs {
				if err != nil {
					t.Fatal(err)
				}
			}
			short, cancel2 := context.WithTimeout(ctx, 300*time.Millisecond)
			defer cancel2()
			if _, err := streams.Ask(short, r.double, r.replies, "k", -1); !errors.Is(err, streams.ErrNoReply) || !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("Ask without a reply = %v, want ErrNoReply and DeadlineExceeded", err)
			}
			if err := stop(); err != nil {
				t.Fatal(err)
			}
		})
	}
}
