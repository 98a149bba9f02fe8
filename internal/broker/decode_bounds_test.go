package broker

import (
	"bytes"
	"encoding/binary"
	"runtime"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestForgedCountsCostLinear decodes, for every served API key at its
// lowest and highest version, bodies whose counts (array lengths, compact
// arrays, nested arrays, tagged-field counts) claim far more than the body
// holds: each must be decoded or refused with memory linear in the body
// (bounded generously at 64 bytes per body byte) and without looping over
// the forged counts (the test returning at all, under the test timeout, is
// the bound on time). Record counts inside batches are checked by the log
// (internal/log walkRecords: each record consumes at least one byte).
func TestForgedCountsCostLinear(t *testing.T) {
	const size = 256 << 10
	bodies := map[string]func(flexible bool) []byte{
		"forged first count": func(flexible bool) []byte {
			b := make([]byte, size)
			if flexible {
				binary.PutUvarint(b, size/2)
			} else {
				binary.BigEndian.PutUint32(b, size/2)
			}
			return b
		},
		"nested counts of one": func(flexible bool) []byte {
			if flexible {
				return bytes.Repeat([]byte{2}, size)
			}
			return bytes.Repeat([]byte{0, 0, 0, 1}, size/4)
		},
		"forged tag counts": func(bool) []byte {
			return bytes.Repeat([]byte{0xff, 0xff, 0xff, 0xff, 0x0f}, size/5)
		},
		"all ones": func(bool) []byte { return bytes.Repeat([]byte{0xff}, size) },
	}
	for _, k := range sortedKeys() {
		h := handlers[k]
		for _, v := range []int16{h.min, h.max} {
			for name, body := range bodies {
				req := kmsg.RequestForKey(k)
				req.SetVersion(v)
				b := body(req.IsFlexible())
				var before, after runtime.MemStats
				runtime.ReadMemStats(&before)
				req.ReadFrom(b)
				runtime.ReadMemStats(&after)
				if n := after.TotalAlloc - before.TotalAlloc; n > 64*size {
					t.Errorf("%s v%d, %s: decoding a %d-byte body allocated %d bytes", kmsg.NameForKey(k), v, name, size, n)
				}
			}
		}
	}
}
