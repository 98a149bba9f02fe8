package objstore

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
)

// memStore is a Store in memory for the format and cache tests; it counts
// its Get calls.
type memStore struct {
	mu   sync.Mutex
	objs map[string][]byte
	gets int
}

func newMemStore() *memStore { return &memStore{objs: map[string][]byte{}} }

func (m *memStore) Put(_ context.Context, key string, data []byte) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.objs[key] = append([]byte(nil), data...)
	return nil
}

func (m *memStore) Get(_ context.Context, key string, off, length int64) ([]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.gets++
	b, ok := m.objs[key]
	if !ok {
		return nil, fmt.Errorf("%s: %w", key, ErrNotFound)
	}
	if length < 0 {
		length = int64(len(b)) - off
	}
	if off < 0 || off+length > int64(len(b)) {
		return nil, fmt.Errorf("%s: %w: %w", key, ErrOutOfRange, ErrPermanent)
	}
	return append([]byte(nil), b[off:off+length]...), nil
}

func (m *memStore) Delete(_ context.Context, key string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.objs, key)
	return nil
}

func (m *memStore) List(_ context.Context, prefix string, fn func(ObjectInfo) error) error {
	m.mu.Lock()
	var infos []ObjectInfo
	for k, v := range m.objs {
		if strings.HasPrefix(k, prefix) {
			infos = append(infos, ObjectInfo{Key: k, Size: int64(len(v))})
		}
	}
	m.mu.Unlock()
	sort.Slice(infos, func(i, j int) bool { return infos[i].Key < infos[j].Key })
	for _, o := range infos {
		if err := fn(o); err != nil {
			return err
		}
	}
	return nil
}

func (m *memStore) getCount() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.gets
}

// buildObject writes n entries of varying sizes and returns the object and
// the entries with their data.
func buildObject(t testing.TB, n int) ([]byte, []Entry, [][]byte) {
	w := NewWriter()
	var entries []Entry
	var datas [][]byte
	for i := range n {
		data := bytes.Repeat([]byte{byte(i), byte(i >> 8), 0xAB}, 10+i%50)
		e := Entry{Partition: int32(i % 7), BaseOffset: int64(i * 100), LastOffset: int64(i*100 + 9), MaxTimestamp: 1700000000000 + int64(i), LeaderEpoch: 3, RecordCount: 10}
		e.TopicID[0], e.TopicID[15] = byte(i), 0x5A
		got, err := w.Add(e, data)
		if err != nil {
			t.Fatal(err)
		}
		entries = append(entries, got)
		datas = append(datas, data)
	}
	size := w.Len()
	obj := w.Finish()
	if len(obj) != size {
		t.Fatalf("Len %d, finished %d bytes", size, len(obj))
	}
	return obj, entries, datas
}

func TestFormatRoundTrip(t *testing.T) {
	ctx := context.Background()
	for _, n := range []int{0, 1, 5, 2000} { // 2000 entries: a footer larger than the first tail read
		obj, entries, datas := buildObject(t, n)
		f, err := Verify(obj)
		if err != nil {
			t.Fatalf("%d entries: %v", n, err)
		}
		if len(f.Entries) != n || (n > 0 && f.Entries[n-1] != entries[n-1]) {
			t.Fatalf("%d entries: decoded %d", n, len(f.Entries))
		}
		s := newMemStore()
		_ = s.Put(ctx, "o", obj)
		f2, err := ReadFooter(ctx, s, "o", int64(len(obj)))
		if err != nil {
			t.Fatalf("%d entries: ReadFooter: %v", n, err)
		}
		wantGets := 1
		if int64(len(obj)) > tailGuess && int64(entryLen*n+4+trailerLen) > tailGuess {
			wantGets = 2
		}
		if s.getCount() != wantGets {
			t.Fatalf("%d entries: ReadFooter made %d reads, want %d", n, s.getCount(), wantGets)
		}
		for i, e := range f2.Entries {
			if e != entries[i] {
				t.Fatalf("entry %d: %+v, want %+v", i, e, entries[i])
			}
			b, err := ReadEntry(ctx, s, "o", e)
			if err != nil || !bytes.Equal(b, datas[i]) {
				t.Fatalf("entry %d: %v", i, err)
			}
		}
	}
}

func TestFormatWriterRejects(t *testing.T) {
	w := NewWriter()
	for _, e := range []Entry{{Partition: -1}, {BaseOffset: 5, LastOffset: 4}, {BaseOffset: -1}, {RecordCount: -1}} {
		if _, err := w.Add(e, []byte("x")); err == nil {
			t.Errorf("%+v accepted", e)
		}
	}
	if _, err := w.Add(Entry{}, nil); err == nil {
		t.Error("empty data accepted")
	}
}

func TestFormatCorruption(t *testing.T) {
	ctx := context.Background()
	obj, entries, _ := buildObject(t, 20)
	size := int64(len(obj))
	flip := func(i int) []byte {
		b := append([]byte(nil), obj...)
		b[i] ^= 0x01
		return b
	}
	cases := map[string][]byte{
		"header magic":   flip(0),
		"data byte":      flip(int(entries[3].Position) + 2),
		"footer byte":    flip(len(obj) - trailerLen - 10),
		"footer crc":     flip(len(obj) - trailerLen + 5),
		"footer length":  flip(len(obj) - trailerLen + 3),
		"trailer magic":  flip(len(obj) - 1),
		"version":        flip(len(obj) - 7),
		"truncated":      obj[:len(obj)-1],
		"tail only":      obj[len(obj)-trailerLen:],
		"empty":          {},
		"entry position": nil, // built below
	}
	// A consistent footer (CRC recomputed) whose entry points into the footer.
	bad := append([]byte(nil), obj...)
	fl := int(binary.BigEndian.Uint32(bad[len(bad)-trailerLen:]))
	footer := bad[len(bad)-trailerLen-fl : len(bad)-trailerLen]
	binary.BigEndian.PutUint64(footer[4+52:], uint64(len(bad)-trailerLen-fl-2))
	binary.BigEndian.PutUint32(bad[len(bad)-trailerLen+4:], crcC(footer))
	cases["entry position"] = bad
	for name, b := range cases {
		if _, err := Verify(b); !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s: Verify: %v", name, err)
		}
	}
	// The data byte is caught by ReadEntry, the footer bytes by ReadFooter.
	s := newMemStore()
	_ = s.Put(ctx, "data", cases["data byte"])
	if _, err := ReadEntry(ctx, s, "data", entries[3]); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("ReadEntry of a flipped byte: %v", err)
	}
	if _, err := ReadEntry(ctx, s, "data", entries[4]); err != nil {
		t.Fatalf("ReadEntry of an intact entry: %v", err)
	}
	for _, name := range []string{"footer byte", "footer crc", "footer length", "trailer magic", "version", "entry position"} {
		_ = s.Put(ctx, name, cases[name])
		if _, err := ReadFooter(ctx, s, name, size); !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s: ReadFooter: %v", name, err)
		}
	}
	if _, err := ReadFooter(ctx, s, "missing", size); !errors.Is(err, ErrNotFound) {
		t.Fatalf("ReadFooter of a missing object: %v", err)
	}
}

func crcC(b []byte) uint32 {
	w := NewWriter()
	e, _ := w.Add(Entry{}, b)
	return e.CRC
}

// FuzzDecodeFooter: the footer decoder never panics or over-reads on any
// bytes, and what it accepts re-encodes to the same footer.
func FuzzDecodeFooter(f *testing.F) {
	for _, n := range []int{0, 1, 3} {
		obj, _, _ := buildObject(f, n)
		f.Add(obj, int64(0))
		f.Add(obj[len(obj)-trailerLen-4-entryLen*n:], int64(len(obj)))
	}
	f.Add([]byte("SLUO"), int64(100))
	f.Fuzz(func(t *testing.T, tail []byte, size int64) {
		if size == 0 {
			size = int64(len(tail))
		}
		ft, err := DecodeFooter(tail, size)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error not ErrCorrupt: %v", err)
			}
			return
		}
		enc := encodeFooter(ft.Entries)
		if got := tail[len(tail)-trailerLen-len(enc) : len(tail)-trailerLen]; !bytes.Equal(got, enc) {
			t.Fatalf("re-encoded footer differs")
		}
		for _, e := range ft.Entries {
			if e.Position < headerLen || e.Length <= 0 || e.Position+e.Length > ft.DataEnd || ft.DataEnd > size {
				t.Fatalf("entry out of bounds: %+v (data end %d, size %d)", e, ft.DataEnd, size)
			}
		}
		_, _ = Verify(tail)
	})
}

// sharedReader hands out its ranges as a cache does: slices of a larger
// buffer whose bytes past the range belong to other entries (0xAA).
type sharedReader struct {
	obj  []byte
	bufs [][]byte
}

func (r *sharedReader) Get(_ context.Context, _ string, off, length int64) ([]byte, error) {
	buf := append(slices.Clone(r.obj[off:off+length]), bytes.Repeat([]byte{0xAA}, 128<<10)...)
	r.bufs = append(r.bufs, buf)
	return buf[:length], nil
}

// ReadFooter's second read must not write into the (shared) bytes its
// reader returned: a footer larger than the first tail read joins two.
func TestReadFooterKeepsReaderBytes(t *testing.T) {
	obj, entries, _ := buildObject(t, 2000)
	r := &sharedReader{obj: obj}
	f, err := ReadFooter(context.Background(), r, "o", int64(len(obj)))
	if err != nil || len(f.Entries) != len(entries) || len(r.bufs) != 2 {
		t.Fatalf("ReadFooter: %d entries, %d reads, %v", len(f.Entries), len(r.bufs), err)
	}
	for i, b := range r.bufs {
		if tail := b[len(b)-128<<10:]; !bytes.Equal(tail, bytes.Repeat([]byte{0xAA}, 128<<10)) {
			t.Fatalf("read %d: ReadFooter wrote past the slice its reader returned", i)
		}
	}
}
