package streams

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"
)

// BenchmarkRestoreChunkLoad sorts and loads chunks of 100-byte values into
// Pebble, without a broker: the loader's side of a bulk restore. Keys in
// order ("ascending"), in two ascending runs ("wrapped", a changelog that
// cycles through its keys) or at random ("random").
func BenchmarkRestoreChunkLoad(b *testing.B) {
	const per = 1 << 18 // records per chunk
	val := make([]byte, 100)
	for i := range val {
		val[i] = byte('a' + i%26)
	}
	for _, order := range []string{"ascending", "wrapped", "random"} {
		b.Run(order, func(b *testing.B) {
			st, err := openPebbleStore(b.TempDir())
			if err != nil {
				b.Fatal(err)
			}
			defer st.close()
			rng := rand.New(rand.NewPCG(1, 2))
			c := newRestoreChunk(per * 120)
			next := 0
			b.ResetTimer()
			var cpu time.Duration
			c0 := processCPU()
			for i := range b.N {
				if len(c.recs) == 0 {
					cpu += processCPU() - c0
					b.StopTimer()
					for j := range per {
						var k int
						switch order {
						case "ascending":
							k = next
							next++
						case "wrapped":
							k = (j + per/2) % per
						default:
							k = rng.IntN(4 * per)
						}
						c.add(fmt.Appendf(nil, "key-%09d", k), val, false)
					}
					b.StartTimer()
					c0 = processCPU()
				}
				if i%per == per-1 || i == b.N-1 {
					c.sort()
					if err := st.loadChunk(context.Background(), c, int64(i)); err != nil {
						b.Fatal(err)
					}
					c.reset()
				}
			}
			cpu += processCPU() - c0
			b.ReportMetric(float64(cpu)/float64(b.N), "cpu-ns/record")
		})
	}
}
