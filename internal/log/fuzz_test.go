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
	cfgs := []Config{DefaultConfig(), DefaultConfig()}
	cfgs[1].TimestampType = LogAppendTime
	cfgs[1].MaxMessageBytes = 1 << 10
	cfgs[0].TimestampBeforeMaxMs, cfgs[0].TimestampAfterMaxMs = 1<<40, 1<<40
	f.Fuzz(func(t *testing.T, b []byte) {
		for i, cfg := range cfgs {
			c := append([]byte(nil), b...)
			if i == 0 && len(c) >= BatchHeaderLen {
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
