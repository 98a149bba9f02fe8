package broker

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/s2"
	"github.com/pierrec/lz4/v4"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice-io/sluice/internal/log"
	"github.com/sluice-io/sluice/internal/vfs"
	"github.com/sluice-io/sluice/internal/vfs/errorfs"
)

// A batch with some keyless records on a compacted topic fails whole with
// INVALID_RECORD and lists exactly the keyless ones, as Kafka's
// LogValidator (librdkafka's 0011_produce_batch expects 10 of 100).
func TestProduceRecordErrorsListEveryBadRecord(t *testing.T) {
	tb := startBroker(t, "", nil)
	cl := newClient(t, tb.addr)
	createTopic(t, cl, "cmp", 1, map[string]*string{"cleanup.policy": strp("compact")})
	var recs []rawRecord
	var want []int32
	for i := range 100 {
		r := rawRecord{key: fmt.Appendf(nil, "k%d", i), value: []byte("v")}
		if i%10 == 3 {
			r.key = nil
			want = append(want, int32(i))
		}
		recs = append(recs, r)
	}
	p := produceRaw(t, tb, cl, "cmp", 0, buildBatch(-1, -1, -1, time.Now().UnixMilli(), recs...))
	if p.ErrorCode != kerr.InvalidRecord.Code || p.BaseOffset != -1 {
		t.Fatalf("error %v, base offset %d", kerr.ErrorForCode(p.ErrorCode), p.BaseOffset)
	}
	var got []int32
	const keyMsg = "Compacted topic cannot accept message without key in topic partition cmp-0"
	for _, e := range p.ErrorRecords {
		got = append(got, e.RelativeOffset)
		if e.ErrorMessage == nil || *e.ErrorMessage != keyMsg {
			t.Fatalf("record %d: message %v", e.RelativeOffset, e.ErrorMessage)
		}
	}
	if !slices.Equal(got, want) {
		t.Fatalf("record errors %v, want %v", got, want)
	}
	wantMsg := "One or more records have been rejected due to 10 record errors in total, and only showing the first three errors at most: [" +
		"RecordError(batchIndex=3, message='" + keyMsg + "'), RecordError(batchIndex=13, message='" + keyMsg + "'), " +
		"RecordError(batchIndex=23, message='" + keyMsg + "')]"
	if p.ErrorMessage == nil || *p.ErrorMessage != wantMsg {
		t.Fatalf("error message %v\nwant %s", p.ErrorMessage, wantMsg)
	}
	if hw := tb.partition("cmp", 0).log.HighWatermark(); hw != 0 {
		t.Fatalf("refused batch appended: high watermark %d", hw)
	}
}

// Out-of-range timestamps are record errors too, and any of them makes the
// batch INVALID_TIMESTAMP with Kafka's fixed message, the keyless records
// still listed.
func TestProduceRecordErrorsTimestamps(t *testing.T) {
	clk := &testClock{t: time.UnixMilli(1_700_000_000_000)}
	tb := startBrokerWith(t, Config{Now: clk.Now})
	cl := newClient(t, tb.addr)
	createTopic(t, cl, "ts", 1, map[string]*string{"cleanup.policy": strp("compact"),
		"message.timestamp.after.max.ms": strp("1000")})
	now := clk.Now().UnixMilli()
	p := produceRaw(t, tb, cl, "ts", 0, buildBatch(-1, -1, -1, now,
		rawRecord{key: []byte("a"), value: []byte("ok")},
		rawRecord{key: []byte("b"), tsDelta: 5000},
		rawRecord{value: []byte("keyless"), tsDelta: 5000},
		rawRecord{key: []byte("c"), tsDelta: 6000}))
	if p.ErrorCode != kerr.InvalidTimestamp.Code || p.BaseOffset != -1 {
		t.Fatalf("error %v, base offset %d", kerr.ErrorForCode(p.ErrorCode), p.BaseOffset)
	}
	if p.ErrorMessage == nil || *p.ErrorMessage != "One or more records have been rejected due to invalid timestamp" {
		t.Fatalf("error message %v", p.ErrorMessage)
	}
	var got []string
	for _, e := range p.ErrorRecords {
		got = append(got, fmt.Sprintf("%d:%s", e.RelativeOffset, *e.ErrorMessage))
	}
	want := []string{
		fmt.Sprintf("1:Timestamp %d of message with offset 1 is out of range. The timestamp should be within [%d, %d]", now+5000, now-math.MaxInt64, now+1000),
		"2:Compacted topic cannot accept message without key in topic partition ts-0",
		fmt.Sprintf("3:Timestamp %d of message with offset 3 is out of range. The timestamp should be within [%d, %d]", now+6000, now-math.MaxInt64, now+1000),
	}
	if !slices.Equal(got, want) {
		t.Fatalf("record errors\n%q\nwant\n%q", got, want)
	}
}

// Kafka checks the transactional id only for transactional batches.
func TestProduceTransactionalIDWithPlainBatch(t *testing.T) {
	tb := startBroker(t, "", nil)
	cl := newClient(t, tb.addr)
	createTopic(t, cl, "plain", 1, nil)
	req := kmsg.NewPtrProduceRequest()
	req.Acks, req.TimeoutMillis, req.TransactionID = -1, 5000, kmsg.StringPtr("some-txn")
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic, rt.TopicID = "plain", tb.topic("plain").meta.ID
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Records = buildBatch(-1, -1, -1, time.Now().UnixMilli(), rawRecord{value: []byte("v")})
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	p := send[*kmsg.ProduceResponse](t, cl, req).Topics[0].Partitions[0]
	if p.ErrorCode != 0 || p.BaseOffset != 0 {
		t.Fatalf("error %v, base offset %d", kerr.ErrorForCode(p.ErrorCode), p.BaseOffset)
	}
}

// Every produce error carries base offset -1, as Kafka's.
func TestProduceErrorsHaveNoBaseOffset(t *testing.T) {
	tb := startBroker(t, "", nil)
	cl := newClient(t, tb.addr)
	createTopic(t, cl, "e", 1, nil)
	good := buildBatch(-1, -1, -1, time.Now().UnixMilli(), rawRecord{value: []byte("v")})
	for name, p := range map[string]kmsg.ProduceResponseTopicPartition{
		"unknown topic":     produceRaw(t, tb, cl, "nope", 0, good),
		"unknown partition": produceRaw(t, tb, cl, "e", 9, good),
		"transactional":     produceRaw(t, tb, cl, "e", 0, transactionalCopy(good)),
	} {
		if p.ErrorCode == 0 || p.BaseOffset != -1 || p.LogAppendTime != -1 {
			t.Errorf("%s: error %v, base offset %d, log append time %d", name, kerr.ErrorForCode(p.ErrorCode), p.BaseOffset, p.LogAppendTime)
		}
	}
}

func transactionalCopy(b []byte) []byte {
	b = slices.Clone(b)
	binary.BigEndian.PutUint64(b[43:], 1) // producer id
	binary.BigEndian.PutUint32(b[53:], 0) // base sequence
	binary.BigEndian.PutUint16(b[21:], binary.BigEndian.Uint16(b[21:])|0x10)
	binary.BigEndian.PutUint32(b[17:], crc32.Checksum(b[21:], crc32.MakeTable(crc32.Castagnoli)))
	return b
}

// Produce v3+ carries v2 batches only: Kafka's request validation answers
// INVALID_RECORD for another magic.
func TestProduceV3OldMagicIsInvalidRecord(t *testing.T) {
	tb := startBroker(t, "", nil)
	cl := newClient(t, tb.addr)
	createTopic(t, cl, "m", 1, nil)
	for _, magic := range []int8{0, 1} {
		set := legacySet(magic, 0, 0, legacyMsg{key: []byte("k"), value: []byte("v")})
		p := produceRaw(t, tb, cl, "m", 0, set)
		if p.ErrorCode != kerr.InvalidRecord.Code || p.BaseOffset != -1 {
			t.Fatalf("magic %d: error %v, base offset %d", magic, kerr.ErrorForCode(p.ErrorCode), p.BaseOffset)
		}
	}
}

// zstd came with Produce v7: Kafka refuses it in v3-v6.
func TestProduceZstdBeforeV7(t *testing.T) {
	tb := startBroker(t, "", nil)
	cl := newClient(t, tb.addr)
	createTopic(t, cl, "z", 1, nil)
	b := buildBatch(-1, -1, -1, time.Now().UnixMilli(), rawRecord{value: []byte("v")})
	// The codec bits only: the check comes before the records are read.
	binary.BigEndian.PutUint16(b[21:], 4)
	binary.BigEndian.PutUint32(b[17:], crc32.Checksum(b[21:], crc32.MakeTable(crc32.Castagnoli)))
	c := rawConn(t, tb.addr)
	for v := int16(3); v <= 7; v++ {
		req := kmsg.NewPtrProduceRequest()
		req.Version, req.Acks, req.TimeoutMillis = v, -1, 5000
		t0 := kmsg.NewProduceRequestTopic()
		t0.Topic = "z"
		p0 := kmsg.NewProduceRequestTopicPartition()
		p0.Records = b
		t0.Partitions = append(t0.Partitions, p0)
		req.Topics = append(req.Topics, t0)
		p := rawRoundTrip(t, c, "zstd", int32(v), req).(*kmsg.ProduceResponse).Topics[0].Partitions[0]
		want := kerr.UnsupportedCompressionType.Code
		if v == 7 {
			want = kerr.CorruptMessage.Code // reaches the log: not zstd data
		}
		if p.ErrorCode != want {
			t.Fatalf("v%d: %v", v, kerr.ErrorForCode(p.ErrorCode))
		}
	}
}

// legacyMsg is one message of a hand-built legacy message set.
type legacyMsg struct {
	ts         int64
	key, value []byte
}

// legacyMessage encodes one message set entry (see internal/log/legacy.go
// for the layout), independently of the broker's encoder.
func legacyMessage(offset int64, magic, attrs int8, ts int64, key, value []byte) []byte {
	var m []byte
	m = append(m, byte(magic), byte(attrs))
	if magic == 1 {
		m = binary.BigEndian.AppendUint64(m, uint64(ts))
	}
	for _, f := range [][]byte{key, value} {
		if f == nil {
			m = binary.BigEndian.AppendUint32(m, 0xffffffff)
		} else {
			m = binary.BigEndian.AppendUint32(m, uint32(len(f)))
			m = append(m, f...)
		}
	}
	out := binary.BigEndian.AppendUint64(nil, uint64(offset))
	out = binary.BigEndian.AppendUint32(out, uint32(4+len(m)))
	out = binary.BigEndian.AppendUint32(out, crc32.ChecksumIEEE(m))
	return append(out, m...)
}

// legacySet builds a message set of magic 0 or 1, compressed in one
// wrapper with codec unless it is 0.
func legacySet(magic, codec int8, wrapperTS int64, msgs ...legacyMsg) []byte {
	var inner []byte
	for i, m := range msgs {
		inner = append(inner, legacyMessage(int64(i), magic, 0, m.ts, m.key, m.value)...)
	}
	if codec == 0 {
		return inner
	}
	var buf bytes.Buffer
	switch codec {
	case 1:
		w := gzip.NewWriter(&buf)
		w.Write(inner)
		w.Close()
	case 2:
		buf.Write(s2.EncodeSnappy(nil, inner))
	case 3:
		w := lz4.NewWriter(&buf)
		w.Write(inner)
		w.Close()
	}
	return legacyMessage(int64(len(msgs)-1), magic, codec, wrapperTS, nil, buf.Bytes())
}

// Produce v0-v2 message sets are stored as v2 batches with the same codec,
// and Fetch v0-v3 hands them back down-converted.
func TestLegacyProduceAndFetch(t *testing.T) {
	tb := startBroker(t, "", nil)
	cl := newClient(t, tb.addr)
	c := rawConn(t, tb.addr)
	c.SetDeadline(time.Now().Add(60 * time.Second))
	corr := int32(0)
	rt := func(req kmsg.Request) kmsg.Response {
		corr++
		return rawRoundTrip(t, c, "legacy", corr, req)
	}
	ts := time.Now().UnixMilli() - 1000
	for _, tc := range []struct {
		version int16
		magic   int8
		codec   int8
	}{
		{0, 0, 0}, {0, 0, 1}, {1, 0, 2}, {1, 0, 3}, {2, 1, 0}, {2, 1, 1}, {2, 1, 2}, {2, 1, 3},
	} {
		name := fmt.Sprintf("v%d-magic%d-codec%d", tc.version, tc.magic, tc.codec)
		t.Run(name, func(t *testing.T) {
			topic := "legacy-" + name
			createTopic(t, cl, topic, 1, nil)
			msgs := []legacyMsg{
				{ts: ts, key: []byte("k0"), value: []byte("v0")},
				{ts: ts + 1, key: nil, value: []byte("v1")},
				{ts: ts + 2, key: []byte("k2"), value: nil},
			}
			for round := range 2 {
				req := kmsg.NewPtrProduceRequest()
				req.Version, req.Acks, req.TimeoutMillis = tc.version, -1, 5000
				t0 := kmsg.NewProduceRequestTopic()
				t0.Topic = topic
				p0 := kmsg.NewProduceRequestTopicPartition()
				p0.Records = legacySet(tc.magic, tc.codec, 0, msgs...)
				t0.Partitions = append(t0.Partitions, p0)
				req.Topics = append(req.Topics, t0)
				resp := rt(req).(*kmsg.ProduceResponse)
				p := resp.Topics[0].Partitions[0]
				if p.ErrorCode != 0 || p.BaseOffset != int64(3*round) {
					t.Fatalf("round %d: error %v, base offset %d", round, kerr.ErrorForCode(p.ErrorCode), p.BaseOffset)
				}
			}
			// Stored as two v2 batches with the codec sent.
			rr, err := tb.partition(topic, 0).log.Read(0, 1<<20, true)
			if err != nil {
				t.Fatal(err)
			}
			raw, _ := rr.AppendTo(nil)
			for i := range 2 {
				h, err := log.ParseBatchHeader(raw)
				if err != nil {
					t.Fatal(err)
				}
				if h.Magic != 2 || h.Compression() != tc.codec || h.NumRecords != 3 || h.BaseOffset != int64(3*i) {
					t.Fatalf("stored batch %d: %+v", i, h)
				}
				recs, err := log.DecodeRecords(raw[:h.Size()])
				if err != nil {
					t.Fatal(err)
				}
				for j, r := range recs {
					wantTS := int64(-1)
					if tc.magic == 1 {
						wantTS = msgs[j].ts
					}
					if !bytes.Equal(r.Key, msgs[j].key) || (r.Key == nil) != (msgs[j].key == nil) ||
						!bytes.Equal(r.Value, msgs[j].value) || (r.Value == nil) != (msgs[j].value == nil) || r.Timestamp != wantTS {
						t.Fatalf("record %d: %+v", j, r)
					}
				}
				raw = raw[h.Size():]
			}

			// Fetch v0-v3 down-converts: magic 0 for v0-v1, 1 for v2-v3.
			for fv := int16(0); fv <= 3; fv++ {
				req := kmsg.NewPtrFetchRequest()
				req.Version, req.MaxWaitMillis, req.MinBytes = fv, 0, 0
				ft := kmsg.NewFetchRequestTopic()
				ft.Topic = topic
				fp := kmsg.NewFetchRequestTopicPartition()
				fp.FetchOffset, fp.PartitionMaxBytes = 1, 1<<20
				ft.Partitions = append(ft.Partitions, fp)
				req.Topics = append(req.Topics, ft)
				resp := rt(req).(*kmsg.FetchResponse)
				p := resp.Topics[0].Partitions[0]
				if p.ErrorCode != 0 || p.HighWatermark != 6 {
					t.Fatalf("fetch v%d: error %v, hw %d", fv, kerr.ErrorForCode(p.ErrorCode), p.HighWatermark)
				}
				wantMagic := int8(1)
				if fv < 2 {
					wantMagic = 0
				}
				got := decodeLegacyForTest(t, p.RecordBatches, wantMagic)
				var offs []int64
				for _, m := range got {
					offs = append(offs, m.offset)
					j := m.offset % 3
					if !bytes.Equal(m.value, msgs[j].value) || !bytes.Equal(m.key, msgs[j].key) {
						t.Fatalf("fetch v%d: offset %d: key %q value %q", fv, m.offset, m.key, m.value)
					}
				}
				// A wrapper (offsets 0-2) is sent whole; uncompressed
				// messages below the fetch offset are left out, as Kafka.
				wantOffs, wantCodec := []int64{0, 1, 2, 3, 4, 5}, tc.codec
				if wantCodec == 0 {
					wantOffs = wantOffs[1:]
				}
				if !slices.Equal(offs, wantOffs) {
					t.Fatalf("fetch v%d: offsets %v", fv, offs)
				}
				if codec := got[0].wrapperCodec; codec != wantCodec {
					t.Fatalf("fetch v%d: codec %d, want %d", fv, codec, wantCodec)
				}
			}
		})
	}
}

type decodedLegacy struct {
	offset       int64
	key, value   []byte
	wrapperCodec int8
}

// decodeLegacyForTest decodes a legacy message set of the given magic,
// checking CRCs and unwrapping compressed messages.
func decodeLegacyForTest(t *testing.T, b []byte, magic int8) []decodedLegacy {
	t.Helper()
	var out []decodedLegacy
	for len(b) > 0 {
		off := int64(binary.BigEndian.Uint64(b))
		size := int(binary.BigEndian.Uint32(b[8:]))
		m := b[12 : 12+size]
		b = b[12+size:]
		if crc32.ChecksumIEEE(m[4:]) != binary.BigEndian.Uint32(m) {
			t.Fatal("bad message crc")
		}
		if int8(m[4]) != magic {
			t.Fatalf("message magic %d, want %d", m[4], magic)
		}
		codec := int8(m[5]) & 7
		i := 6
		if magic == 1 {
			i = 14
		}
		field := func() []byte {
			n := int32(binary.BigEndian.Uint32(m[i:]))
			i += 4
			if n < 0 {
				return nil
			}
			i += int(n)
			return m[i-int(n) : i]
		}
		key, value := field(), field()
		if codec == 0 {
			out = append(out, decodedLegacy{offset: off, key: key, value: value})
			continue
		}
		var inner []byte
		var err error
		switch codec {
		case 1:
			var r *gzip.Reader
			if r, err = gzip.NewReader(bytes.NewReader(value)); err == nil {
				var buf bytes.Buffer
				_, err = buf.ReadFrom(r)
				inner = buf.Bytes()
			}
		case 2:
			inner, err = s2.Decode(nil, value)
		case 3:
			inner, err = unlz4(t, value, magic)
		}
		if err != nil {
			t.Fatalf("codec %d: %v", codec, err)
		}
		msgs := decodeLegacyForTest(t, inner, magic)
		for k := range msgs {
			if magic == 1 { // relative offsets, the wrapper has the last
				msgs[k].offset = off - msgs[len(msgs)-1].offset + msgs[k].offset
			}
			msgs[k].wrapperCodec = codec
		}
		out = append(out, msgs...)
	}
	return out
}

// unlz4 decompresses an lz4 frame. Magic 0 frames must carry Kafka's old,
// broken header checksum: the library refuses it, and the byte that it
// accepts is searched for.
func unlz4(t *testing.T, frame []byte, magic int8) ([]byte, error) {
	t.Helper()
	read := func(f []byte) ([]byte, error) {
		var buf bytes.Buffer
		_, err := buf.ReadFrom(lz4.NewReader(bytes.NewReader(f)))
		return buf.Bytes(), err
	}
	out, err := read(frame)
	if magic == 1 || err == nil {
		if magic == 0 {
			t.Fatal("magic 0 lz4 frame with a proper header checksum")
		}
		return out, err
	}
	// Magic, FLG, BD: the checksum is byte 6 when FLG has no options.
	if frame[4]&0x09 != 0 {
		t.Fatalf("lz4 frame flags %#x", frame[4])
	}
	f := bytes.Clone(frame)
	for c := range 256 {
		f[6] = byte(c)
		if out, err := read(f); err == nil {
			return out, nil
		}
	}
	return nil, err
}

// A legacy message with a bad CRC is CORRUPT_MESSAGE, and nothing is
// stored.
func TestLegacyProduceBadCRC(t *testing.T) {
	tb := startBroker(t, "", nil)
	cl := newClient(t, tb.addr)
	createTopic(t, cl, "crc", 1, nil)
	set := legacySet(1, 1, 0, legacyMsg{key: []byte("k"), value: []byte("v")})
	set[len(set)-1] ^= 1
	req := kmsg.NewPtrProduceRequest()
	req.Version, req.Acks, req.TimeoutMillis = 2, -1, 5000
	t0 := kmsg.NewProduceRequestTopic()
	t0.Topic = "crc"
	p0 := kmsg.NewProduceRequestTopicPartition()
	p0.Records = set
	t0.Partitions = append(t0.Partitions, p0)
	req.Topics = append(req.Topics, t0)
	c := rawConn(t, tb.addr)
	p := rawRoundTrip(t, c, "legacy", 1, req).(*kmsg.ProduceResponse).Topics[0].Partitions[0]
	if p.ErrorCode != kerr.CorruptMessage.Code || p.BaseOffset != -1 {
		t.Fatalf("error %v, base offset %d", kerr.ErrorForCode(p.ErrorCode), p.BaseOffset)
	}
	if hw := tb.partition("crc", 0).log.HighWatermark(); hw != 0 {
		t.Fatalf("high watermark %d", hw)
	}
}

// ListOffsets v0 (old consumers, with Fetch v0-v2) answers Kafka's legacy
// offset lists: the log end offset and segment base offsets, newest first.
func TestListOffsetsV0(t *testing.T) {
	clk := &testClock{t: time.UnixMilli(1_700_000_000_000)}
	tb := startBrokerWith(t, Config{Now: clk.Now})
	cl := newClient(t, tb.addr)
	createTopic(t, cl, "lo", 1, map[string]*string{"segment.ms": strp("1000")})
	for _, n := range []int{2, 2, 1} { // segments at 0, 2 and 4
		var recs []rawRecord
		for range n {
			recs = append(recs, rawRecord{value: []byte("v")})
		}
		if p := produceRaw(t, tb, cl, "lo", 0, buildBatch(-1, -1, -1, clk.Now().UnixMilli(), recs...)); p.ErrorCode != 0 {
			t.Fatal(kerr.ErrorForCode(p.ErrorCode))
		}
		clk.Advance(2 * time.Second)
	}
	c := rawConn(t, tb.addr)
	for i, tc := range []struct {
		ts   int64
		max  int32
		want []int64
	}{
		{-1, 10, []int64{5, 4, 2, 0}},
		{-1, 1, []int64{5}},
		{-2, 10, []int64{0}},
		{math.MaxInt64, 2, []int64{5, 4}},
		{0, 10, []int64{}}, // every segment was written after 1970
	} {
		req := kmsg.NewPtrListOffsetsRequest()
		req.Version = 0
		rt := kmsg.NewListOffsetsRequestTopic()
		rt.Topic = "lo"
		rp := kmsg.NewListOffsetsRequestTopicPartition()
		rp.Timestamp, rp.MaxNumOffsets = tc.ts, tc.max
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		p := rawRoundTrip(t, c, "old", int32(i), req).(*kmsg.ListOffsetsResponse).Topics[0].Partitions[0]
		if p.ErrorCode != 0 || !slices.Equal(p.OldStyleOffsets, tc.want) {
			t.Fatalf("ts %d max %d: %v %v, want %v", tc.ts, tc.max, kerr.ErrorForCode(p.ErrorCode), p.OldStyleOffsets, tc.want)
		}
	}
}

// With flush.messages=1 the fsyncs of one Produce request's partitions run
// together (group commit), not one after another: the test's file system
// holds the first segment fsync of the request until a second one, for
// another partition, has started. One after another, the second never
// starts while the first is held, and the wait times out. A failed fsync
// fails only its own partition, with KAFKA_STORAGE_ERROR.
func TestProduceFsyncsPartitionsTogether(t *testing.T) {
	var (
		armed    atomic.Bool
		mu       sync.Mutex
		started  = map[string]bool{}
		second   = make(chan struct{})
		overlap  atomic.Bool
		failPart atomic.Value // string: a partition dir whose fsync fails
	)
	failPart.Store("")
	fs := errorfs.New(vfs.Default, func(op errorfs.Op, path string) error {
		if !armed.Load() || op != errorfs.OpSync || !strings.HasSuffix(path, ".log") {
			return nil
		}
		dir := filepath.Base(filepath.Dir(path))
		if dir == failPart.Load().(string) {
			return syscall.EIO
		}
		mu.Lock()
		first := len(started) == 0
		if !started[dir] {
			started[dir] = true
			if len(started) == 2 {
				close(second)
			}
		}
		mu.Unlock()
		if first {
			select {
			case <-second:
				overlap.Store(true)
			case <-time.After(5 * time.Second):
			}
		}
		return nil
	})
	tb := startBrokerWith(t, Config{FS: fs})
	cl := newClient(t, tb.addr)
	createTopic(t, cl, "durable", 3, map[string]*string{"flush.messages": kmsg.StringPtr("1")})

	produceAll := func() *kmsg.ProduceResponse {
		req := kmsg.NewPtrProduceRequest()
		req.Acks = -1
		req.TimeoutMillis = 30000
		rt := kmsg.NewProduceRequestTopic()
		rt.Topic, rt.TopicID = "durable", tb.topic("durable").meta.ID
		for p := range int32(3) {
			rp := kmsg.NewProduceRequestTopicPartition()
			rp.Partition = p
			rp.Records = buildBatch(-1, -1, -1, time.Now().UnixMilli(), rawRecord{value: []byte("v")})
			rt.Partitions = append(rt.Partitions, rp)
		}
		req.Topics = append(req.Topics, rt)
		return send[*kmsg.ProduceResponse](t, cl, req)
	}
	armed.Store(true)
	resp := produceAll()
	for _, sp := range resp.Topics[0].Partitions {
		if sp.ErrorCode != 0 || sp.BaseOffset != 0 {
			t.Fatalf("partition %d: error %d, base offset %d", sp.Partition, sp.ErrorCode, sp.BaseOffset)
		}
	}
	if !overlap.Load() {
		t.Fatal("the request's partition fsyncs ran one after another")
	}
	for p := range int32(3) {
		l := tb.partition("durable", p).log
		if hw := l.HighWatermark(); hw != 1 {
			t.Fatalf("partition %d: high watermark %d", p, hw)
		}
	}

	failPart.Store("durable-1")
	resp = produceAll()
	for _, sp := range resp.Topics[0].Partitions {
		want := int16(0)
		if sp.Partition == 1 {
			want = kerr.KafkaStorageError.Code
		}
		if sp.ErrorCode != want {
			t.Fatalf("partition %d with partition 1's fsync failing: error %d, want %d", sp.Partition, sp.ErrorCode, want)
		}
		if want != 0 && sp.BaseOffset != -1 {
			t.Fatalf("partition %d: failed with base offset %d", sp.Partition, sp.BaseOffset)
		}
		if want == 0 && sp.BaseOffset != 1 {
			t.Fatalf("partition %d: base offset %d, want 1", sp.Partition, sp.BaseOffset)
		}
	}
	// The failed fsync is sticky for its log (as a Kafka log dir failure),
	// so closing reports it.
	tb.stopOnce.Do(func() {
		if err := tb.Close(); !errors.Is(err, syscall.EIO) {
			t.Errorf("closing the broker after a failed fsync: %v, want the EIO", err)
		}
		<-tb.done
	})
}

// A Produce request whose appends run past half its timeout answers the
// partitions not reached yet with REQUEST_TIMED_OUT and leaves them
// unwritten; resent, they are appended. The broker's clock jumps a second
// at each reading while the request runs, so the deadline passes right
// after the first partition. Without a timeout (0) every partition is
// appended however long it takes.
func TestProduceStopsAppendingAtHalfTimeout(t *testing.T) {
	const parts = 4
	var jump atomic.Bool
	var skew atomic.Int64
	now := func() time.Time {
		if jump.Load() {
			skew.Add(int64(time.Second))
		}
		return time.Now().Add(time.Duration(skew.Load()))
	}
	tb := startBrokerWith(t, Config{Now: now})
	cl := newClient(t, tb.addr)
	createTopic(t, cl, "slow", parts, nil)
	produce := func(timeoutMs int32, partitions ...int32) *kmsg.ProduceResponse {
		req := kmsg.NewPtrProduceRequest()
		req.Acks, req.TimeoutMillis = -1, timeoutMs
		rt := kmsg.NewProduceRequestTopic()
		rt.Topic, rt.TopicID = "slow", tb.topic("slow").meta.ID
		for _, p := range partitions {
			rp := kmsg.NewProduceRequestTopicPartition()
			rp.Partition = p
			rp.Records = buildBatch(-1, -1, -1, time.Now().UnixMilli(), rawRecord{value: fmt.Appendf(nil, "p%d", p)})
			rt.Partitions = append(rt.Partitions, rp)
		}
		req.Topics = append(req.Topics, rt)
		jump.Store(true)
		defer jump.Store(false)
		return send[*kmsg.ProduceResponse](t, cl, req)
	}
	hw := func(p int) int64 { return tb.topic("slow").partitions[p].log.HighWatermark() }

	resp := produce(1000, 0, 1, 2, 3)
	for _, sp := range resp.Topics[0].Partitions {
		want := kerr.RequestTimedOut.Code
		if sp.Partition == 0 {
			want = 0
		}
		if sp.ErrorCode != want {
			t.Fatalf("partition %d: error %d, want %d", sp.Partition, sp.ErrorCode, want)
		}
		if want != 0 && sp.BaseOffset != -1 {
			t.Fatalf("partition %d timed out with base offset %d", sp.Partition, sp.BaseOffset)
		}
	}
	for p, want := range []int64{1, 0, 0, 0} {
		if got := hw(p); got != want {
			t.Fatalf("after the timed-out request: partition %d high watermark %d, want %d", p, got, want)
		}
	}

	// The client's retry of the rest: one at a time, each the first of its
	// request, they are appended.
	for p := int32(1); p < parts; p++ {
		if sp := produce(1000, p).Topics[0].Partitions[0]; sp.ErrorCode != 0 || sp.BaseOffset != 0 {
			t.Fatalf("retry of partition %d: error %d, base offset %d", p, sp.ErrorCode, sp.BaseOffset)
		}
	}
	// No timeout: all appended.
	for _, sp := range produce(0, 0, 1, 2, 3).Topics[0].Partitions {
		if sp.ErrorCode != 0 || sp.BaseOffset != 1 {
			t.Fatalf("timeout 0, partition %d: error %d, base offset %d", sp.Partition, sp.ErrorCode, sp.BaseOffset)
		}
	}
	for p := range parts {
		if got := hw(p); got != 2 {
			t.Fatalf("partition %d high watermark %d, want 2", p, got)
		}
	}
}

// With flush.messages=1 a connection reads and appends its next Produce
// requests while an earlier one waits for its fsync (pipeline.go), so
// requests in flight share fsyncs; the answers still come in request order
// and none before its own records are fsynced. The test's file system
// holds the first segment fsync until the second request is appended: a
// connection that waited for the fsync before reading on never appends it.
func TestProducePipelinesFsyncs(t *testing.T) {
	var (
		armed    atomic.Bool
		held     = make(chan struct{})
		release  = make(chan struct{})
		holdOnce sync.Once
		syncs    atomic.Int32
	)
	fs := errorfs.New(vfs.Default, func(op errorfs.Op, path string) error {
		if !armed.Load() || op != errorfs.OpSync || !strings.HasSuffix(path, ".log") {
			return nil
		}
		syncs.Add(1)
		holdOnce.Do(func() {
			close(held)
			<-release
		})
		return nil
	})
	tb := startBrokerWith(t, Config{FS: fs})
	var releaseOnce sync.Once
	unhold := func() { releaseOnce.Do(func() { close(release) }) }
	t.Cleanup(unhold) // before the broker's close, which waits for the fsync
	cl := newClient(t, tb.addr)
	createTopic(t, cl, "durable", 1, map[string]*string{"flush.messages": kmsg.StringPtr("1")})
	l := tb.partition("durable", 0).log

	produce := func(v string) *kmsg.ProduceRequest {
		req := kmsg.NewPtrProduceRequest()
		req.Version, req.Acks, req.TimeoutMillis = 9, -1, 30000
		rt := kmsg.NewProduceRequestTopic()
		rt.Topic = "durable"
		rp := kmsg.NewProduceRequestTopicPartition()
		rp.Records = buildBatch(-1, -1, -1, time.Now().UnixMilli(), rawRecord{value: []byte(v)})
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		return req
	}
	c := rawConn(t, tb.addr)
	c.SetDeadline(time.Now().Add(30 * time.Second))
	f := kmsg.NewRequestFormatter(kmsg.FormatterClientID("piped"))
	armed.Store(true)
	if _, err := c.Write(f.AppendRequest(nil, produce("a"), 1)); err != nil {
		t.Fatal(err)
	}
	select {
	case <-held:
	case <-time.After(20 * time.Second):
		t.Fatal("the first request's fsync never started")
	}
	if _, err := c.Write(f.AppendRequest(nil, produce("b"), 2)); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the second request appended while the first waits for its fsync", func() bool { return l.HighWatermark() == 2 })
	c.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	if n, err := c.Read(make([]byte, 1)); n > 0 || err == nil {
		t.Fatal("a response was written before its fsync finished")
	}
	c.SetDeadline(time.Now().Add(30 * time.Second))
	unhold()
	for i, want := range []int64{0, 1} {
		body, err := readResponse(c)
		if err != nil {
			t.Fatal(err)
		}
		if corr := int32(binary.BigEndian.Uint32(body)); corr != int32(i+1) {
			t.Fatalf("response %d has correlation id %d: out of order", i, corr)
		}
		resp := kmsg.NewPtrProduceResponse()
		resp.Version = 9
		if err := resp.ReadFrom(body[5:]); err != nil { // v9 is flexible: a tag byte after the correlation id
			t.Fatal(err)
		}
		sp := resp.Topics[0].Partitions[0]
		if sp.ErrorCode != 0 || sp.BaseOffset != want {
			t.Fatalf("response %d: error %d, base offset %d, want offset %d", i, sp.ErrorCode, sp.BaseOffset, want)
		}
	}
	if n := syncs.Load(); n > 2 {
		t.Fatalf("%d segment fsyncs for two requests", n)
	}
}
