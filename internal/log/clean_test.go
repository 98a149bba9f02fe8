package log

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// kv is a keyed record for compaction tests; a nil value is a tombstone.
type kv struct {
	key, value []byte
}

// buildKeyed returns a batch of recs with the given codec and producer
// fields, every record stamped ts.
func buildKeyed(t testing.TB, codec int8, pid int64, seq int32, ts int64, recs []kv) []byte {
	var area, rec []byte
	for i, r := range recs {
		rec = rec[:0]
		rec = append(rec, 0)
		rec = binary.AppendVarint(rec, 0)
		rec = binary.AppendVarint(rec, int64(i))
		if r.key == nil {
			rec = binary.AppendVarint(rec, -1)
		} else {
			rec = binary.AppendVarint(rec, int64(len(r.key)))
			rec = append(rec, r.key...)
		}
		if r.value == nil {
			rec = binary.AppendVarint(rec, -1)
		} else {
			rec = binary.AppendVarint(rec, int64(len(r.value)))
			rec = append(rec, r.value...)
		}
		rec = binary.AppendVarint(rec, 0)
		area = binary.AppendVarint(area, int64(len(rec)))
		area = append(area, rec...)
	}
	records := compress(t, codec, area)
	b := make([]byte, BatchHeaderLen, BatchHeaderLen+len(records))
	be := binary.BigEndian
	be.PutUint32(b[offLength:], uint32(BatchHeaderLen-batchLengthOverhead+len(records)))
	b[offMagic] = 2
	be.PutUint16(b[offAttributes:], uint16(codec))
	be.PutUint32(b[offLastOffsetDelta:], uint32(len(recs)-1))
	be.PutUint64(b[offFirstTimestamp:], uint64(ts))
	be.PutUint64(b[offMaxTimestamp:], uint64(ts))
	be.PutUint64(b[offProducerID:], uint64(pid))
	be.PutUint16(b[offProducerEpoch:], 0)
	be.PutUint32(b[offBaseSequence:], uint32(seq))
	be.PutUint32(b[offRecordCount:], uint32(len(recs)))
	b = append(b, records...)
	putCRC(b)
	return b
}

// written is what the model knows of one appended record.
type written struct {
	key, value []byte
	ts         int64
}

type compactModel struct {
	all    map[int64]written // every appended record by offset
	newest map[string]int64  // key -> offset of its newest record
	// seen: offset -> time of the first clean whose range held it, which
	// gave a tombstone its delete horizon (KIP-534).
	seen map[int64]int64
}

// readRecords reads the whole log and checks offsets strictly increase
// and that every record is exactly what was appended at its offset.
func (m *compactModel) readRecords(t *testing.T, l *Log) []Record {
	t.Helper()
	var out []Record
	prev := int64(-1)
	for _, b := range readAll(t, l, l.LogStartOffset(), 1<<20) {
		recs, err := DecodeRecords(b)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range recs {
			if r.Offset <= prev {
				t.Fatalf("offset %d after %d", r.Offset, prev)
			}
			prev = r.Offset
			w, ok := m.all[r.Offset]
			if !ok || !bytes.Equal(w.key, r.Key) || !bytes.Equal(w.value, r.Value) || (w.value == nil) != (r.Value == nil) {
				t.Fatalf("record at offset %d is %q=%q, appended %q=%q", r.Offset, r.Key, r.Value, w.key, w.value)
			}
			out = append(out, r)
		}
	}
	return out
}

// check verifies the log against the model after cleaning [0, cleanedTo)
// at cleanedAt: the newest record of every key is present unless it is a
// tombstone in the cleaned range whose delete horizon (delete.retention.ms
// after the first clean that saw it) has passed, and the cleaned range
// holds no older record of a key.
func (m *compactModel) check(t *testing.T, l *Log, cleanedTo, cleanedAt, deleteRetention int64) {
	t.Helper()
	if m.seen == nil {
		m.seen = map[int64]int64{}
	}
	for off := range m.all {
		if _, ok := m.seen[off]; !ok && off < cleanedTo {
			m.seen[off] = cleanedAt
		}
	}
	recs := m.readRecords(t, l)
	present := map[int64]bool{}
	for _, r := range recs {
		present[r.Offset] = true
		if r.Offset < cleanedTo && m.newest[string(r.Key)] != r.Offset && m.newest[string(r.Key)] < cleanedTo {
			t.Fatalf("offset %d: key %q kept though offset %d is newer", r.Offset, r.Key, m.newest[string(r.Key)])
		}
	}
	for k, off := range m.newest {
		w := m.all[off]
		seen, ok := m.seen[off]
		expired := w.value == nil && off < cleanedTo && ok && seen+deleteRetention <= cleanedAt
		if present[off] == expired && off >= l.LogStartOffset() {
			t.Fatalf("key %q newest offset %d: present=%v, expired tombstone=%v", k, off, present[off], expired)
		}
	}
}

func compactConfig() Config {
	c := smallConfig()
	c.SegmentBytes = 4 << 10
	c.Compact, c.Delete = true, false
	c.DeleteRetentionMs = 60_000
	c.MaxCompactionLagMs = 5_000 // idle active segments roll after 5 s
	c.FileDeleteDelayMs = 0
	return c
}

// appendKeyed appends a random keyed batch and records it in the model.
func (m *compactModel) appendKeyed(t *testing.T, l *Log, rng *rand.Rand, clk *clock, keys int, pidSeq *int32) {
	t.Helper()
	n := 1 + rng.IntN(8)
	recs := make([]kv, n)
	for i := range recs {
		recs[i].key = fmt.Appendf(nil, "key-%d", rng.IntN(keys))
		if rng.IntN(5) != 0 {
			recs[i].value = fmt.Appendf(nil, "v%d-%s", rng.Int64(), bytes.Repeat([]byte("x"), rng.IntN(100)))
		}
	}
	codec := []int8{CodecNone, CodecNone, CodecGzip, CodecSnappy, CodecLz4, CodecZstd}[rng.IntN(6)]
	pid, seq := int64(-1), int32(-1)
	if rng.IntN(4) == 0 {
		pid, seq = 7, *pidSeq
		*pidSeq += int32(n)
	}
	ts := clk.Now().UnixMilli()
	res := mustAppend(t, l, buildKeyed(t, codec, pid, seq, ts, recs))
	for i, r := range recs {
		off := res.BaseOffset + int64(i)
		m.all[off] = written{key: r.key, value: r.value, ts: ts}
		m.newest[string(r.key)] = off
	}
}

// TestCompactionProperty: random keyed writes, tombstones, rolls, cleans
// and restarts, checked against a model after every clean.
func TestCompactionProperty(t *testing.T) {
	for seed := range uint64(3) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 99))
			clk := newClock()
			cfg := compactConfig()
			o := testOpts(t, cfg)
			o.Now = clk.Now
			l := mustOpen(t, o)
			defer func() { l.Close() }()
			m := &compactModel{all: map[int64]written{}, newest: map[string]int64{}}
			keys := 20 + rng.IntN(60)
			var pidSeq int32
			for round := range 20 {
				for range 10 + rng.IntN(60) {
					m.appendKeyed(t, l, rng, clk, keys, &pidSeq)
				}
				clk.Advance(time.Duration(rng.IntN(20_000)) * time.Millisecond)
				if _, err := l.ApplyRetention(clk.Now()); err != nil {
					t.Fatal(err)
				}
				// Paced or not, the outcome is the same.
				duty := []float64{0, CleanerDutyCycle}[rng.IntN(2)]
				st, err := l.Clean(clk.Now(), CleanOptions{DutyCycle: duty})
				if err != nil {
					t.Fatal(err)
				}
				m.check(t, l, st.CleanerEnd, clk.Now().UnixMilli(), cfg.DeleteRetentionMs)
				switch rng.IntN(4) {
				case 0:
					crash(l)
					l = mustOpen(t, o)
					m.check(t, l, st.CleanerEnd, clk.Now().UnixMilli(), cfg.DeleteRetentionMs)
				case 1:
					if err := l.Close(); err != nil {
						t.Fatal(err)
					}
					l = mustOpen(t, o)
				}
				_ = round
			}
			// Finally everything is cleanable and every tombstone
			// past its horizon: exactly the newest value of each
			// live key. The first clean gives the last tombstones
			// their horizon, the second, after it, drops them.
			clk.Advance(2 * time.Minute)
			if _, err := l.ApplyRetention(clk.Now()); err != nil {
				t.Fatal(err)
			}
			for range 2 {
				if _, err := l.Clean(clk.Now(), CleanOptions{}); err != nil {
					t.Fatal(err)
				}
				clk.Advance(2 * time.Minute)
			}
			got := map[string]int64{}
			for _, r := range m.readRecords(t, l) {
				if _, dup := got[string(r.Key)]; dup {
					t.Fatalf("key %q twice", r.Key)
				}
				got[string(r.Key)] = r.Offset
			}
			for k, off := range m.newest {
				live := m.all[off].value != nil
				if g, ok := got[k]; ok != live || (live && g != off) {
					t.Fatalf("key %q: got offset %d (present %v), newest %d live %v", k, g, ok, off, live)
				}
			}
			if len(got) == 0 {
				t.Fatal("no live keys: the test checks nothing")
			}
			// Appends go on after the cleaned segments.
			m.appendKeyed(t, l, rng, clk, keys, &pidSeq)
			m.readRecords(t, l)
		})
	}
}

// TestCompactionCrash stops a clean at each stage, as kill -9 would, and
// checks the reopened log.
func TestCompactionCrash(t *testing.T) {
	for _, stage := range []string{"cleaned", "swap", "index"} {
		t.Run(stage, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(1, 2))
			clk := newClock()
			cfg := compactConfig()
			o := testOpts(t, cfg)
			o.Now = clk.Now
			l := mustOpen(t, o)
			m := &compactModel{all: map[int64]written{}, newest: map[string]int64{}}
			var pidSeq int32
			for range 200 {
				m.appendKeyed(t, l, rng, clk, 30, &pidSeq)
			}
			clk.Advance(10 * time.Second)
			if _, err := l.ApplyRetention(clk.Now()); err != nil {
				t.Fatal(err)
			}
			boom := errors.New("boom")
			l.lc.testHook = func(s string) error {
				if s == stage {
					return boom
				}
				return nil
			}
			if _, err := l.Clean(clk.Now(), CleanOptions{}); !errors.Is(err, boom) {
				t.Fatalf("Clean: %v", err)
			}
			crash(l)
			l = mustOpen(t, o)
			defer func() { l.Close() }()
			for _, ext := range []string{cleanedSuffix, swapSuffix} {
				if got := globExt(t, o.Dir, ext); len(got) != 0 {
					t.Fatalf("left over: %v", got)
				}
			}
			// Nothing newest is lost; a key may still have older
			// records (the clean may not have happened).
			m.check(t, l, 0, clk.Now().UnixMilli(), cfg.DeleteRetentionMs)
			st, err := l.Clean(clk.Now(), CleanOptions{})
			if err != nil {
				t.Fatal(err)
			}
			m.check(t, l, st.CleanerEnd, clk.Now().UnixMilli(), cfg.DeleteRetentionMs)
		})
	}
}

func TestCompactedTopicRequiresKeys(t *testing.T) {
	l := mustOpen(t, testOpts(t, compactConfig()))
	defer l.Close()
	_, err := l.Append(buildKeyed(t, CodecNone, -1, -1, 1000, []kv{{key: []byte("a"), value: []byte("1")}, {value: []byte("2")}}))
	if !errors.Is(err, ErrInvalidRecord) {
		t.Fatalf("keyless record on a compacted topic: %v", err)
	}
	mustAppend(t, l, buildKeyed(t, CodecLz4, -1, -1, 1000, []kv{{key: []byte("a")}}))
}

// TestCleanStatus: the dirty ratio and min.compaction.lag.ms.
func TestCleanStatus(t *testing.T) {
	clk := newClock()
	cfg := compactConfig()
	cfg.MaxCompactionLagMs = math.MaxInt64
	cfg.MinCompactionLagMs = 30_000
	o := testOpts(t, cfg)
	o.Now = clk.Now
	l := mustOpen(t, o)
	defer l.Close()
	m := &compactModel{all: map[int64]written{}, newest: map[string]int64{}}
	rng := rand.New(rand.NewPCG(5, 5))
	var seq int32
	for range 100 {
		m.appendKeyed(t, l, rng, clk, 10, &seq)
	}
	if st := l.CleanStatus(clk.Now()); st.Due || st.DirtyBytes != 0 {
		t.Fatalf("records younger than min.compaction.lag.ms are cleanable: %+v", st)
	}
	clk.Advance(31 * time.Second)
	st := l.CleanStatus(clk.Now())
	if !st.Due || st.DirtyRatio != 1 {
		t.Fatalf("status %+v", st)
	}
	cs, err := l.Clean(clk.Now(), CleanOptions{})
	if err != nil || cs.Segments == 0 || cs.BytesAfter >= cs.BytesBefore {
		t.Fatalf("clean: %+v %v", cs, err)
	}
	if st := l.CleanStatus(clk.Now()); st.Due || st.DirtyBytes != 0 || st.CleanBytes == 0 {
		t.Fatalf("after clean: %+v", st)
	}
	m.check(t, l, cs.CleanerEnd, clk.Now().UnixMilli(), cfg.DeleteRetentionMs)
}

// TestPacerOnlyWhenBusy: with a Busy report, the pacer sleeps only while
// it reports true.
func TestPacerOnlyWhenBusy(t *testing.T) {
	clock := time.Unix(0, 0)
	busy := false
	p := newPacer(0.5, func() bool { return busy }, nil)
	p.start, p.lastYield = clock, clock
	p.now = func() time.Time { return clock }
	p.yield = func() {}
	var slept time.Duration
	p.sleep = func(d time.Duration) { clock = clock.Add(d); slept += d }
	run := func() {
		for range 1000 {
			clock = clock.Add(30 * time.Microsecond)
			p.pace()
		}
	}
	run()
	if slept != 0 {
		t.Fatalf("idle: slept %v", slept)
	}
	busy = true
	run()
	if worked := 30 * time.Millisecond; slept < worked*9/10 || slept > worked*11/10 {
		t.Fatalf("busy: slept %v for %v of work, want about as long", slept, worked)
	}
}

// TestPacer: a paced cleaner sleeps (1-d)/d of the time it worked,
// credits what it overslept up to one slice, and yields every
// cleanYieldInterval, paced or not; unpaced it never sleeps.
func TestPacer(t *testing.T) {
	for _, c := range []struct {
		duty      float64
		overSleep time.Duration
	}{{0, 0}, {0.5, 0}, {0.25, 0}, {0.5, 100 * time.Microsecond}, {0.5, 10 * time.Millisecond}} {
		t.Run(fmt.Sprintf("duty=%g/oversleep=%v", c.duty, c.overSleep), func(t *testing.T) {
			clock := time.Unix(0, 0)
			p := newPacer(c.duty, nil, nil)
			p.start, p.lastYield = clock, clock
			var slept, longestWork, work time.Duration
			yields := 0
			p.now = func() time.Time { return clock }
			p.yield = func() { yields++ }
			p.sleep = func(d time.Duration) {
				if d <= 0 {
					t.Fatalf("asked to sleep %v", d)
				}
				d += c.overSleep
				clock = clock.Add(d)
				slept += d
				longestWork = max(longestWork, work)
				work = 0
			}
			const batch, batches = 30 * time.Microsecond, 10000
			for range batches {
				clock = clock.Add(batch)
				work += batch
				p.pace()
			}
			worked := batch * batches
			if want := int(worked / (2 * batch)); yields != want {
				t.Errorf("%d yields, want one per %v of work, %d", yields, cleanYieldInterval, want)
			}
			if c.duty == 0 {
				if slept != 0 {
					t.Fatalf("unpaced cleaner slept %v", slept)
				}
				return
			}
			got := float64(worked) / float64(worked+slept)
			want := c.duty
			if c.overSleep > cleanWorkSlice {
				// A long oversleep is credited one slice only.
				want = float64(2*cleanWorkSlice) / float64(2*cleanWorkSlice+cleanWorkSlice+c.overSleep)
			}
			if math.Abs(got-want) > 0.02 {
				t.Errorf("duty cycle %.3f, want %.3f (worked %v, slept %v)", got, want, worked, slept)
			}
			if limit := 2 * (cleanWorkSlice + batch); longestWork > limit {
				t.Errorf("worked %v without sleeping, limit %v", longestWork, limit)
			}
		})
	}
}

// buildTimed is buildKeyed with a timestamp per record.
func buildTimed(t testing.TB, codec int8, ts []int64, recs []kv) []byte {
	b := buildKeyed(t, codec, -1, -1, ts[0], recs)
	var area, rec []byte
	maxTs := ts[0]
	for i, r := range recs {
		rec = append(rec[:0], 0)
		rec = binary.AppendVarint(rec, ts[i]-ts[0])
		rec = binary.AppendVarint(rec, int64(i))
		rec = binary.AppendVarint(rec, int64(len(r.key)))
		rec = append(rec, r.key...)
		if r.value == nil {
			rec = binary.AppendVarint(rec, -1)
		} else {
			rec = binary.AppendVarint(rec, int64(len(r.value)))
			rec = append(rec, r.value...)
		}
		rec = binary.AppendVarint(rec, 0)
		area = binary.AppendVarint(area, int64(len(rec)))
		area = append(area, rec...)
		maxTs = max(maxTs, ts[i])
	}
	b = append(b[:BatchHeaderLen], compress(t, codec, area)...)
	binary.BigEndian.PutUint32(b[offLength:], uint32(len(b)-batchLengthOverhead))
	putMaxTimestamp(b, maxTs)
	putCRC(b)
	return b
}

// TestDeleteHorizon (KIP-534): the first clean to see a tombstone gives
// its batch a delete horizon, delete.retention.ms after the clean, in
// firstTimestamp with attribute bit 6, and re-encodes the records' deltas
// so that every record keeps its timestamp, for our decoder as for
// franz-go's (timestamp = firstTimestamp + delta); maxTimestamp and
// timestamp lookups are unchanged. The tombstone stays until a clean
// after the horizon, however old its own timestamp.
func TestDeleteHorizon(t *testing.T) {
	for _, codec := range []int8{CodecNone, CodecGzip, CodecZstd} {
		t.Run(fmt.Sprint(codec), func(t *testing.T) {
			clk := newClock()
			cfg := compactConfig()
			o := testOpts(t, cfg)
			o.Now = clk.Now
			l := mustOpen(t, o)
			defer l.Close()
			old := clk.Now().UnixMilli() - 10*cfg.DeleteRetentionMs // far older than delete.retention.ms
			ts := []int64{old, old + 5, old - 3, old + 200_000}
			recs := []kv{{key: []byte("a"), value: []byte("1")}, {key: []byte("b")}, {key: []byte("c"), value: []byte("3")}, {key: []byte("d")}}
			mustAppend(t, l, buildTimed(t, codec, ts, recs))
			mustAppend(t, l, buildKeyed(t, codec, -1, -1, clk.Now().UnixMilli(), []kv{{key: []byte("e"), value: []byte("5")}}))
			if _, err := l.rollIdle(clk.Now()); err != nil {
				t.Fatal(err)
			}
			before := readAll(t, l, 0, 1<<20)
			lookups := map[int64][2]int64{}
			for _, q := range []int64{old - 10, old, old + 1, old + 6, old + 200_000} {
				off, got, err := l.OffsetForTimestamp(q)
				if err != nil {
					t.Fatal(err)
				}
				lookups[q] = [2]int64{off, got}
			}
			cleanAt := clk.Now().UnixMilli()
			if _, err := l.Clean(clk.Now(), CleanOptions{}); err != nil {
				t.Fatal(err)
			}
			after := readAll(t, l, 0, 1<<20)
			h0, _ := ParseBatchHeader(before[0])
			h, _ := ParseBatchHeader(after[0])
			if hzn, ok := h.DeleteHorizon(); !ok || hzn != cleanAt+cfg.DeleteRetentionMs || h.MaxTimestamp != h0.MaxTimestamp {
				t.Fatalf("horizon %d %v, want %d; maxTimestamp %d, was %d", hzn, ok, cleanAt+cfg.DeleteRetentionMs, h.MaxTimestamp, h0.MaxTimestamp)
			}
			if h1, _ := ParseBatchHeader(after[1]); h1.Attributes&attrDeleteHorizon != 0 {
				t.Fatal("a batch without tombstones got a horizon")
			}
			got, err := DecodeRecords(after[0])
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(recs) {
				t.Fatalf("%d records after the first clean, want all %d: the tombstones wait for the horizon", len(got), len(recs))
			}
			for i, r := range got {
				if r.Timestamp != ts[i] || string(r.Key) != string(recs[i].key) {
					t.Fatalf("record %d: %s at %d, want %s at %d", i, r.Key, r.Timestamp, recs[i].key, ts[i])
				}
			}
			if codec == CodecNone {
				// franz-go's view of the same bytes.
				var rb kmsg.RecordBatch
				if err := rb.ReadFrom(after[0]); err != nil {
					t.Fatal(err)
				}
				area := rb.Records
				for i := range recs {
					var r kmsg.Record
					if err := r.ReadFrom(area); err != nil {
						t.Fatal(err)
					}
					_, w := binary.Varint(area)
					area = area[w+int(r.Length):]
					if got := rb.FirstTimestamp + r.TimestampDelta64; got != ts[i] {
						t.Fatalf("franz-go: record %d at %d, want %d", i, got, ts[i])
					}
				}
			}
			for q, want := range lookups {
				off, got, err := l.OffsetForTimestamp(q)
				if err != nil || off != want[0] || got != want[1] {
					t.Fatalf("OffsetForTimestamp(%d) = %d, %d, %v; before the clean %v", q, off, got, err, want)
				}
			}
			// Before the horizon nothing goes; after it the tombstones do.
			clk.Advance(time.Duration(cfg.DeleteRetentionMs-1) * time.Millisecond)
			if _, err := l.Clean(clk.Now(), CleanOptions{}); err != nil {
				t.Fatal(err)
			}
			if got, _ := DecodeRecords(readAll(t, l, 0, 1<<20)[0]); len(got) != len(recs) {
				t.Fatalf("%d records before the horizon, want %d", len(got), len(recs))
			}
			clk.Advance(time.Millisecond)
			if _, err := l.Clean(clk.Now(), CleanOptions{}); err != nil {
				t.Fatal(err)
			}
			got, err = DecodeRecords(readAll(t, l, 0, 1<<20)[0])
			if err != nil || len(got) != 2 || string(got[0].Key) != "a" || got[0].Timestamp != ts[0] || string(got[1].Key) != "c" || got[1].Timestamp != ts[2] {
				t.Fatalf("after the horizon: %+v %v", got, err)
			}
		})
	}
}

// TestCleanBoundedKeyMap: with a key map (log.cleaner.dedupe.buffer.size)
// too small for the dirty section, a clean maps whole dirty segments while
// their offsets fit and cleans up to the last one mapped; the next cleans
// go on from there. A first dirty segment that alone does not fit is
// still cleaned.
func TestCleanBoundedKeyMap(t *testing.T) {
	clk := newClock()
	cfg := compactConfig()
	cfg.SegmentBytes = 1 << 10
	o := testOpts(t, cfg)
	o.Now = clk.Now
	l := mustOpen(t, o)
	defer l.Close()
	m := &compactModel{all: map[int64]written{}, newest: map[string]int64{}}
	rng := rand.New(rand.NewPCG(3, 4))
	var seq int32
	for range 80 {
		m.appendKeyed(t, l, rng, clk, 2000, &seq) // mostly distinct keys
	}
	if _, err := l.rollIdle(clk.Now()); err != nil {
		t.Fatal(err)
	}
	l.mu.RLock()
	var ends []int64 // each inactive segment's end
	for _, s := range l.segs[:len(l.segs)-1] {
		ends = append(ends, s.next)
	}
	second := l.segs[1]
	l.mu.RUnlock()
	if len(ends) < 6 {
		t.Fatalf("only %d segments", len(ends))
	}

	// One key: only the first segment, which does not fit either.
	st, err := l.Clean(clk.Now(), CleanOptions{MaxKeys: 1})
	if err != nil || st.CleanerEnd != ends[0] {
		t.Fatalf("clean with room for 1 key: %+v %v; want the first segment, to %d", st, err, ends[0])
	}
	m.check(t, l, st.CleanerEnd, clk.Now().UnixMilli(), cfg.DeleteRetentionMs)
	// Room for the next two segments' offsets: those two at least (a
	// third if duplicate keys leave room for all its offsets), not all.
	room := int((second.next - second.base) + (ends[2] - ends[1]))
	st, err = l.Clean(clk.Now(), CleanOptions{MaxKeys: room})
	if err != nil || st.CleanerEnd < ends[2] || st.CleanerEnd >= ends[len(ends)-1] || st.Keys > room {
		t.Fatalf("clean with room for %d keys: %+v %v; want to %d or a little further", room, st, err, ends[2])
	}
	m.check(t, l, st.CleanerEnd, clk.Now().UnixMilli(), cfg.DeleteRetentionMs)
	rounds := 0
	for st.CleanerEnd < ends[len(ends)-1] {
		if rounds++; rounds > len(ends) {
			t.Fatalf("no progress: cleaned to %d of %d", st.CleanerEnd, ends[len(ends)-1])
		}
		before := st.CleanerEnd
		if st, err = l.Clean(clk.Now(), CleanOptions{MaxKeys: room}); err != nil || st.CleanerEnd <= before {
			t.Fatalf("clean: %+v %v, after %d", st, err, before)
		}
		m.check(t, l, st.CleanerEnd, clk.Now().UnixMilli(), cfg.DeleteRetentionMs)
	}
	if rounds < 2 {
		t.Fatalf("the rest took %d rounds: the bound did not bind", rounds)
	}
}

// TestOffsetMap: the open-addressing key map agrees with a Go map through
// growth, overwrites and misses.
func TestOffsetMap(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 9))
	m := newOffsetMap()
	want := map[string]int64{}
	for i := range 50_000 {
		k := fmt.Sprint(rng.IntN(20_000))
		m.put(m.key([]byte(k)), int64(i))
		want[k] = int64(i)
	}
	if m.len() != len(want) || len(m.slots) <= offsetMapMinSlots {
		t.Fatalf("%d keys in %d slots, want %d keys and growth", m.len(), len(m.slots), len(want))
	}
	for k, off := range want {
		if got, ok := m.get(m.key([]byte(k))); !ok || got != off {
			t.Fatalf("key %s: %d %v, want %d", k, got, ok, off)
		}
	}
	if _, ok := m.get(m.key([]byte("absent"))); ok {
		t.Fatal("absent key found")
	}
	m.put(m.key([]byte("zero")), 0)
	if got, ok := m.get(m.key([]byte("zero"))); !ok || got != 0 {
		t.Fatalf("offset 0: %d %v", got, ok)
	}
}

// TestCleanDueAtHorizon: a log with nothing dirty is due for a clean once
// the delete horizon of a tombstone it keeps has passed (KIP-534), and no
// longer once that clean dropped it.
func TestCleanDueAtHorizon(t *testing.T) {
	clk := newClock()
	cfg := compactConfig()
	o := testOpts(t, cfg)
	o.Now = clk.Now
	l := mustOpen(t, o)
	defer l.Close()
	mustAppend(t, l, buildKeyed(t, CodecNone, -1, -1, clk.Now().UnixMilli(), []kv{{key: []byte("a"), value: []byte("1")}, {key: []byte("b")}}))
	if _, err := l.rollIdle(clk.Now()); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Clean(clk.Now(), CleanOptions{}); err != nil {
		t.Fatal(err)
	}
	retention := time.Duration(cfg.DeleteRetentionMs) * time.Millisecond
	if st := l.CleanStatus(clk.Now().Add(retention - time.Millisecond)); st.Due || st.DirtyBytes != 0 {
		t.Fatalf("before the horizon: %+v", st)
	}
	clk.Advance(retention)
	if st := l.CleanStatus(clk.Now()); !st.Due {
		t.Fatalf("at the horizon, not due: %+v", st)
	}
	if _, err := l.Clean(clk.Now(), CleanOptions{}); err != nil {
		t.Fatal(err)
	}
	recs, err := DecodeRecords(readAll(t, l, 0, 1<<20)[0])
	if err != nil || len(recs) != 1 || string(recs[0].Key) != "a" {
		t.Fatalf("after the horizon: %+v %v", recs, err)
	}
	if st := l.CleanStatus(clk.Now().Add(time.Hour)); st.Due {
		t.Fatalf("due again with nothing to drop: %+v", st)
	}
}

// TestPassedHorizonWithNothingLeftIsNotDue: when what held a delete
// horizon left the log (retention here), a clean that finds nothing
// cleanable forgets the horizon, so the log is not due again and again
// (the broker's cleaner would spin on it).
func TestPassedHorizonWithNothingLeftIsNotDue(t *testing.T) {
	clk := newClock()
	cfg := compactConfig()
	cfg.Delete = true
	cfg.RetentionMs = 1000
	o := testOpts(t, cfg)
	o.Now = clk.Now
	l := mustOpen(t, o)
	defer l.Close()
	mustAppend(t, l, buildKeyed(t, CodecNone, -1, -1, clk.Now().UnixMilli(), []kv{{key: []byte("a"), value: []byte("1")}, {key: []byte("b")}}))
	if _, err := l.rollIdle(clk.Now()); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Clean(clk.Now(), CleanOptions{}); err != nil {
		t.Fatal(err)
	}
	clk.Advance(10 * time.Second)
	mustAppend(t, l, buildKeyed(t, CodecNone, -1, -1, clk.Now().UnixMilli(), []kv{{key: []byte("c"), value: []byte("1")}}))
	if res, err := l.ApplyRetention(clk.Now()); err != nil || res.Deleted != 1 {
		t.Fatalf("retention: %+v %v", res, err)
	}
	clk.Advance(time.Duration(cfg.DeleteRetentionMs+1) * time.Millisecond)
	if st := l.CleanStatus(clk.Now()); !st.Due {
		t.Fatalf("the passed horizon does not make the log due: %+v", st)
	}
	if cs, err := l.Clean(clk.Now(), CleanOptions{}); err != nil || cs.Segments != 0 {
		t.Fatalf("clean: %+v %v", cs, err)
	}
	if st := l.CleanStatus(clk.Now()); st.Due {
		t.Fatalf("still due after a clean that could do nothing: %+v", st)
	}
}
