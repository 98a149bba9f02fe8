package log

import (
	"encoding/binary"
	"math"
	"testing"
)

// FuzzValidateBatch feeds arbitrary produce payloads to validation, which
// must never panic; whatever it accepts must decode into the records its
// header announces.
func FuzzValidateBatch(f *testing.F) {
	f.Add(build(f, plain(3)))
	for _, codec := range []int8{CodecGzip, CodecSnappy, CodecLz4, CodecZstd} {
		s := plain(4)
		s.codec, s.headers = codec, true
		f.Add(build(f, s))
	}
	f.Add([]byte{})
	// cfgs[2] checks no timestamp bounds: validation's fast scan.
	cfgs := []Config{DefaultConfig(), DefaultConfig(), DefaultConfig()}
	cfgs[1].TimestampType = LogAppendTime
	cfgs[1].MaxMessageBytes = 1 << 10
	cfgs[0].TimestampBeforeMaxMs, cfgs[0].TimestampAfterMaxMs = 1<<40, 1<<40
	f.Fuzz(func(t *testing.T, b []byte) {
		for i, cfg := range cfgs {
			c := append([]byte(nil), b...)
			if i != 1 && len(c) >= BatchHeaderLen {
				// Repair the framing and CRC so that mutations reach
				// the record parser.
				binary.BigEndian.PutUint32(c[offLength:], uint32(len(c)-batchLengthOverhead))
				c[offMagic] = 2
				putCRC(c)
			}
			h, err := validateBatch(c, &cfg, 1_700_000_000_000)
			if err != nil {
				continue
			}
			if checkCRC(c) != nil {
				t.Fatal("accepted batch has a bad CRC")
			}
			recs, err := DecodeRecords(c)
			if err != nil {
				t.Fatalf("accepted batch does not decode: %v", err)
			}
			if len(recs) != int(h.NumRecords) {
				t.Fatalf("%d records, header says %d", len(recs), h.NumRecords)
			}
			maxTs := int64(math.MinInt64)
			for i, r := range recs {
				if r.Offset != h.BaseOffset+int64(i) {
					t.Fatalf("record %d has offset %d", i, r.Offset)
				}
				maxTs = max(maxTs, r.Timestamp)
			}
			if cfg.TimestampType == CreateTime && maxTs != h.MaxTimestamp {
				t.Fatalf("maxTimestamp %d, records' max %d", h.MaxTimestamp, maxTs)
			}
		}
	})
}

// FuzzScanRecords checks validation's fast record scan against the
// general walk: for any records area, count and checks (a key on every
// record, timestamp bounds), scanRecords accepts exactly what walkRecords
// with the same walker accepts without a bad record, and finds the same
// largest timestamp.
func FuzzScanRecords(f *testing.F) {
	for _, s := range []spec{plain(1), plain(5), {n: 3, valueSize: 300, firstTs: -5, tsStep: 1 << 40, pid: -1, seq: -1, headers: true}} {
		for _, checks := range []uint8{0, 1, 2, 3} {
			f.Add(encodeRecords(s), int32(s.n), checks, int64(1000), int64(1003))
		}
	}
	f.Add([]byte{}, int32(0), uint8(0), int64(0), int64(0))
	f.Add([]byte{}, int32(-29), uint8(0), int64(0), int64(0)) // a negative count: nothing walked
	f.Add([]byte{2, 0}, int32(1), uint8(0), int64(0), int64(0))
	// Ten-byte varints: the largest, and one that overflows 64 bits.
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}, int32(1), uint8(0), int64(0), int64(0))
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02}, int32(1), uint8(0), int64(0), int64(0))
	f.Add([]byte{0x16, 0, 0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01, 0, 1, 0, 0}, int32(1), uint8(2), int64(0), int64(1<<62))
	f.Fuzz(func(t *testing.T, data []byte, n int32, checks uint8, lo, hi int64) {
		fast := tsWalker{firstTs: 1000, maxTs: 7, requireKey: checks&1 != 0, checkBounds: checks&2 != 0, lo: lo, hi: hi}
		slow := fast
		ok := scanRecords(data, n, &fast)
		err := walkRecords(data, n, slow.visit)
		if ok != (err == nil && slow.errs == nil) {
			t.Fatalf("scanRecords %v, walkRecords %v, bad records %v", ok, err, slow.errs)
		}
		if ok && (fast.maxTs != slow.maxTs || fast.next != slow.next) {
			t.Fatalf("scan: max %d next %d; walk: max %d next %d", fast.maxTs, fast.next, slow.maxTs, slow.next)
		}
		if !ok && (fast.maxTs != 7 || fast.next != 0 || fast.errs != nil) {
			t.Fatal("a refused scan changed the walker")
		}
	})
}

// FuzzZZ checks validation's inlined varint decoder against binary.Varint.
func FuzzZZ(f *testing.F) {
	for _, v := range []int64{0, -1, 1, 63, -64, 64, 1 << 20, math.MaxInt64, math.MinInt64} {
		f.Add(binary.AppendVarint(nil, v))
	}
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02})
	f.Add([]byte{0x80})
	f.Fuzz(func(t *testing.T, b []byte) {
		v, n := binary.Varint(b)
		got, i := zz(b, 0)
		if n <= 0 {
			if i != -1 {
				t.Fatalf("zz(%x) = %d, %d; binary.Varint fails (%d)", b, got, i, n)
			}
			return
		}
		if got != v || i != n {
			t.Fatalf("zz(%x) = %d, %d; binary.Varint %d, %d", b, got, i, v, n)
		}
	})
}
