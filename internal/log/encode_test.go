package log

import (
	"bytes"
	"testing"
)

// TestEncodeBatch: an encoded batch parses back with a valid CRC, the
// producer fields and attributes asked for, and its records (a nil value
// stays null).
func TestEncodeBatch(t *testing.T) {
	recs := []KV{{Key: []byte("k1"), Value: []byte("v1")}, {Key: []byte("k2")}}
	for _, tc := range []struct {
		pid   int64
		epoch int16
		txn   bool
	}{{-1, 5, false}, {7, 3, true}} {
		b := EncodeBatch(recs, 1234, tc.pid, tc.epoch, tc.txn)
		h, err := ParseBatchHeader(b)
		if err != nil {
			t.Fatal(err)
		}
		if err := checkCRC(b); err != nil {
			t.Fatal(err)
		}
		wantEpoch, wantSeq := tc.epoch, int32(0)
		if tc.pid < 0 {
			wantEpoch, wantSeq = -1, -1
		}
		if h.Size() != len(b) || h.Magic != 2 || h.LastOffsetDelta != 1 || h.FirstTimestamp != 1234 || h.MaxTimestamp != 1234 ||
			h.ProducerID != tc.pid || h.ProducerEpoch != wantEpoch || h.BaseSequence != wantSeq || h.Transactional() != tc.txn || h.Control() || h.Compression() != 0 {
			t.Fatalf("header %+v", h)
		}
		got, err := DecodeRecords(b)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 2 || !bytes.Equal(got[0].Key, []byte("k1")) || !bytes.Equal(got[0].Value, []byte("v1")) || got[1].Value != nil || got[1].Offset != 1 {
			t.Fatalf("records %+v", got)
		}
	}
}
