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
// at cleanedAt: the newest record of every key is present unless it is an
// expired tombstone in the cleaned range, and the cleaned range holds no
// older record of a key.
func (m *compactModel) check(t *testing.T, l *Log, cleanedTo, cleanedAt, deleteRetention int64) {
	t.Helper()
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
		expired := w.value == nil && off < cleanedTo && cleanedAt-w.ts > deleteRetention
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
			// expired: exactly the newest value of each live key.
			clk.Advance(2 * time.Minute)
			if _, err := l.ApplyRetention(clk.Now()); err != nil {
				t.Fatal(err)
			}
			if _, err := l.Clean(clk.Now(), CleanOptions{}); err != nil {
				t.Fatal(err)
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
			p := newPacer(c.duty, nil)
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
