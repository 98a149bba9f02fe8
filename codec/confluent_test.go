package codec

import (
	"bytes"
	"encoding/hex"
	"errors"
	"slices"
	"testing"
)

func TestConfluentHeaderBytes(t *testing.T) {
	for _, tc := range []struct {
		name    string
		id      uint32
		proto   bool
		indexes []int
		want    string
	}{
		{"avro id 1", 1, false, nil, "0000000001"},
		{"avro id max", 0x7fffffff, false, nil, "007fffffff"},
		{"avro id 0x01020304", 0x01020304, false, nil, "0001020304"},
		{"proto [0]", 1, true, []int{0}, "000000000100"},
		{"proto empty path", 1, true, nil, "000000000100"},
		{"proto [1]", 1, true, []int{1}, "00000000010202"},
		{"proto [0 0]", 1, true, []int{0, 0}, "0000000001040000"},
		{"proto [2 0]", 7, true, []int{2, 0}, "0000000007040400"},
		{"proto [64]", 1, true, []int{64}, "0000000001028001"}, // zigzag(64) = 128 = varint 80 01
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got []byte
			if tc.proto {
				got = AppendProtobufHeader([]byte{}, tc.id, tc.indexes)
			} else {
				got = AppendHeader([]byte{}, tc.id)
			}
			if hex.EncodeToString(got) != tc.want {
				t.Fatalf("header = %x, want %s", got, tc.want)
			}
			framed := append(got, 0xAA, 0xBB)
			if tc.proto {
				id, idx, payload, err := ParseProtobufHeader(framed)
				want := tc.indexes
				if len(want) == 0 {
					want = []int{0}
				}
				if err != nil || id != tc.id || !slices.Equal(idx, want) || !bytes.Equal(payload, []byte{0xAA, 0xBB}) {
					t.Fatalf("ParseProtobufHeader = %d %v %x %v", id, idx, payload, err)
				}
			} else {
				id, payload, err := ParseHeader(framed)
				if err != nil || id != tc.id || !bytes.Equal(payload, []byte{0xAA, 0xBB}) {
					t.Fatalf("ParseHeader = %d %x %v", id, payload, err)
				}
			}
		})
	}
}

func TestConfluentHeaderAppendsToDst(t *testing.T) {
	got := AppendHeader([]byte("xy"), 258)
	if hex.EncodeToString(got) != "78790000000102" {
		t.Fatalf("got %x", got)
	}
}

func TestConfluentHeaderErrors(t *testing.T) {
	for _, tc := range []struct {
		name  string
		in    string
		proto bool
		want  error
	}{
		{"empty", "", false, ErrShortHeader},
		{"four bytes", "00000000", false, ErrShortHeader},
		{"bad magic", "0100000001", false, ErrBadMagic},
		{"proto no count", "0000000001", true, ErrBadMessageIndexes},
		{"proto truncated count varint", "000000000180", true, ErrBadMessageIndexes},
		{"proto count past input", "00000000010600", true, ErrBadMessageIndexes},
		{"proto negative count", "000000000101", true, ErrBadMessageIndexes},
		{"proto negative index", "00000000010201", true, ErrBadMessageIndexes},
		{"proto over-long varint", "0000000001ffffffffff01", true, ErrBadMessageIndexes},
		{"proto too many indexes", "0000000001" + "c801" + string(bytes.Repeat([]byte("00"), 100)), true, ErrBadMessageIndexes}, // count 100 is allowed...
		{"proto index overflows int32", "000000000102feffffff1f", true, ErrBadMessageIndexes},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, err := hex.DecodeString(tc.in)
			if err != nil {
				t.Fatal(err)
			}
			if tc.proto {
				_, _, _, err = ParseProtobufHeader(b)
			} else {
				_, _, err = ParseHeader(b)
			}
			if tc.name == "proto too many indexes" {
				// 0xc8 0x01 is zigzag(100): exactly the limit, and 100 zero
				// indexes follow, so it parses; 101 must not.
				if err != nil {
					t.Fatalf("100 indexes: %v", err)
				}
				b101, _ := hex.DecodeString("0000000001" + "ca01" + string(bytes.Repeat([]byte("00"), 101)))
				_, _, _, err = ParseProtobufHeader(b101)
			}
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
		})
	}
}

// FuzzParseProtobufHeader checks that any input parses or fails cleanly,
// and that what parses re-encodes to the same bytes (a canonical encoding:
// [0] written as count 1 then 0 parses to [0] but re-encodes shorter, so
// compare the parsed values instead of the bytes in that case).
func FuzzParseProtobufHeader(f *testing.F) {
	for _, s := range []string{"000000000100", "00000000010202", "0000000007040400", "0000000001", "0000000001ffffffffff01", "01"} {
		b, _ := hex.DecodeString(s)
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		id, idx, payload, err := ParseProtobufHeader(b)
		if err != nil {
			if id != 0 || idx != nil || payload != nil {
				t.Fatalf("error %v with results %d %v %x", err, id, idx, payload)
			}
			return
		}
		if len(idx) == 0 || len(idx) > MaxMessageIndexes {
			t.Fatalf("indexes %v", idx)
		}
		re := AppendProtobufHeader(nil, id, idx)
		re = append(re, payload...)
		id2, idx2, payload2, err := ParseProtobufHeader(re)
		if err != nil || id2 != id || !slices.Equal(idx, idx2) || !bytes.Equal(payload, payload2) {
			t.Fatalf("re-encoded %x parses to %d %v %x %v, want %d %v %x", re, id2, idx2, payload2, err, id, idx, payload)
		}
		if len(re) > len(b) {
			t.Fatalf("re-encoding %x is longer than the input %x", re, b)
		}
	})
}
