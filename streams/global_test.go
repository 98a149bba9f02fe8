package streams_test

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/sluice-io/sluice/codec"
	"github.com/sluice-io/sluice/streams"
)

// TestJoinGlobalProperty joins a stream keyed by order id with a global
// table keyed by product id (the stream value), against a model: the
// global table is caught up to everything sent before each batch (the
// Driver's reader), and each batch's stream records see that state.
func TestJoinGlobalProperty(t *testing.T) {
	for _, kind := range []streams.JoinKind{streams.InnerJoin, streams.LeftJoin} {
		t.Run(kind.String(), func(t *testing.T) {
			for seed := range uint64(30) {
				r := rand.New(rand.NewPCG(seed, 4))
				app := newJoinApp(t, streams.AtLeastOnce)
				orders := streams.NewTopic(app, "orders", codec.String(), codec.String())
				prodTopic := streams.NewTopic(app, "products", codec.String(), codec.String(), streams.Partitions(5))
				out := streams.NewTopic(app, "out", codec.String(), codec.JSON[joined]())
				products := streams.NewGlobalTable(app, "products", prodTopic)
				streams.JoinGlobal(app, "g", orders, products, func(_ string, product string) string { return product }, kind,
					func(_ string, product string, p string, found bool) joined {
						return joined{L: product, LK: true, R: p, RK: found}
					}, out)
				d := newDriver(t, app)
				global := map[string]string{}
				var pending []step
				var want []outRec
				flush := func() {
					for _, s := range pending {
						if s.Side == 1 {
							if s.Del {
								delete(global, s.Key)
							} else {
								global[s.Key] = s.Val
							}
						}
					}
					for _, s := range pending {
						if s.Side == 0 {
							v, ok := global[s.Val]
							if ok || kind == streams.LeftJoin {
								want = append(want, outRec{Key: s.Key, Val: joined{L: s.Val, LK: true, R: v, RK: ok}, TS: s.TS})
							}
						}
					}
					pending = nil
					if err := d.Process(); err != nil {
						t.Fatal(err)
					}
				}
				for i := range 80 {
					s := step{Side: r.IntN(2), TS: int64(i)}
					ts := joinEpoch.Add(time.Duration(i) * time.Millisecond)
					var err error
					if s.Side == 0 {
						s.Key, s.Val = fmt.Sprintf("order%d", i), fmt.Sprintf("p%d", r.IntN(6))
						err = streams.SendAt(d, orders, s.Key, s.Val, ts)
					} else {
						s.Key, s.Val = fmt.Sprintf("p%d", r.IntN(6)), fmt.Sprintf("name%d", i)
						if r.IntN(4) == 0 {
							s.Del = true
							err = streams.SendTombstoneAt(d, prodTopic, s.Key, ts)
						} else {
							err = streams.SendAt(d, prodTopic, s.Key, s.Val, ts)
						}
					}
					if err != nil {
						t.Fatal(err)
					}
					pending = append(pending, s)
					if r.IntN(4) == 0 {
						flush()
					}
				}
				flush()
				sameOutput(t, readOut(t, d, app, "out"), want)
				for k, v := range global {
					got, ok, err := products.Lookup(k)
					if err != nil || !ok || got != v {
						t.Errorf("Lookup(%s) = %q %v %v, want %q", k, got, ok, err, v)
					}
				}
				if t.Failed() {
					t.Fatalf("seed %d", seed)
				}
				d.Close()
			}
		})
	}
}
