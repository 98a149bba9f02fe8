package objstore

// The object format. One object holds the record batches of many partitions,
// written by one broker's flush (or by a merge). All integers are big-endian.
//
//	object  = header data footer trailer
//	header  = magic "SLUO" (4) | version uint16 (= 1) | flags uint16 (= 0)          8 bytes
//	data    = the entries' bytes back to back, in the order they were added
//	footer  = count uint32 | count × entry
//	entry   = topic id [16] | partition int32 | base offset int64 | last offset int64 |
//	          max timestamp int64 | leader epoch int32 | record count int32 |
//	          position int64 | length int64 | CRC32C of the entry's bytes uint32    72 bytes
//	trailer = footer length uint32 (count and entries) | CRC32C of the footer uint32 |
//	          version uint16 (= 1) | reserved uint16 (= 0) | magic "SLUO" (4)        16 bytes
//
// An entry is one range of one partition's batches (base to last offset,
// whole Kafka record batches as the broker stored them); position is its
// byte offset from the object's start. Entries are sorted by position, do
// not overlap and lie between the header and the footer. The fetch path
// reads one entry's range with a ranged GET, located by the etcd index
// (which repeats position and length); the footer makes an object
// self-describing for merging, garbage collection and verification. A reader
// fetches the object's tail, checks the trailer's magic and version, the
// footer's length and CRC32C, then every entry's bounds; ReadEntry checks an
// entry's bytes against its CRC32C. Any failed check is ErrCorrupt.

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"slices"
)

const (
	formatMagic   = "SLUO"
	formatVersion = 1
	headerLen     = 8
	trailerLen    = 16
	entryLen      = 72
	// tailGuess is how much of an object's end ReadFooter fetches first:
	// the trailer and the footers of up to ~900 entries in one request.
	tailGuess = 64 << 10
	// MaxEntries bounds the entries of one object (the footer's count).
	MaxEntries = 1 << 20
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Entry describes one partition's range of batches in an object.
type Entry struct {
	TopicID      [16]byte
	Partition    int32
	BaseOffset   int64
	LastOffset   int64
	MaxTimestamp int64
	LeaderEpoch  int32
	RecordCount  int32
	// Set by the Writer:
	Position int64  // byte offset from the object's start
	Length   int64  // bytes
	CRC      uint32 // CRC32C (Castagnoli) of the bytes
}

// Footer is an object's decoded footer.
type Footer struct {
	Entries []Entry
	// DataEnd is where the data ends and the footer begins.
	DataEnd int64
}

// Writer builds one object in memory. Objects are small (a flush's worth,
// megabytes), written whole with Store.Put.
type Writer struct {
	buf     []byte
	entries []Entry
}

// NewWriter starts an object.
func NewWriter() *Writer {
	w := &Writer{buf: make([]byte, headerLen, 1<<16)}
	copy(w.buf, formatMagic)
	binary.BigEndian.PutUint16(w.buf[4:], formatVersion)
	return w
}

// Add appends one partition's range of batches and returns its entry with
// Position, Length and CRC set.
func (w *Writer) Add(e Entry, data []byte) (Entry, error) {
	switch {
	case len(data) == 0:
		return Entry{}, fmt.Errorf("objstore: entry of partition %d at %d: no bytes", e.Partition, e.BaseOffset)
	case e.Partition < 0:
		return Entry{}, fmt.Errorf("objstore: entry: negative partition %d", e.Partition)
	case e.BaseOffset < 0 || e.LastOffset < e.BaseOffset:
		return Entry{}, fmt.Errorf("objstore: entry of partition %d: offsets %d..%d", e.Partition, e.BaseOffset, e.LastOffset)
	case e.RecordCount < 0:
		return Entry{}, fmt.Errorf("objstore: entry of partition %d: record count %d", e.Partition, e.RecordCount)
	case len(w.entries) >= MaxEntries:
		return Entry{}, fmt.Errorf("objstore: object full (%d entries)", MaxEntries)
	}
	e.Position = int64(len(w.buf))
	e.Length = int64(len(data))
	e.CRC = crc32.Checksum(data, castagnoli)
	w.buf = append(w.buf, data...)
	w.entries = append(w.entries, e)
	return e, nil
}

// Len is the object's size if finished now.
func (w *Writer) Len() int { return len(w.buf) + 4 + entryLen*len(w.entries) + trailerLen }

// Entries are the entries added so far.
func (w *Writer) Entries() []Entry { return w.entries }

// Finish appends the footer and trailer and returns the object's bytes. The
// Writer must not be used afterwards.
func (w *Writer) Finish() []byte {
	footer := encodeFooter(w.entries)
	out := append(w.buf, footer...)
	out = appendTrailer(out, footer)
	w.buf, w.entries = nil, nil
	return out
}

func encodeFooter(entries []Entry) []byte {
	b := make([]byte, 4, 4+entryLen*len(entries))
	binary.BigEndian.PutUint32(b, uint32(len(entries)))
	for _, e := range entries {
		b = append(b, e.TopicID[:]...)
		b = binary.BigEndian.AppendUint32(b, uint32(e.Partition))
		b = binary.BigEndian.AppendUint64(b, uint64(e.BaseOffset))
		b = binary.BigEndian.AppendUint64(b, uint64(e.LastOffset))
		b = binary.BigEndian.AppendUint64(b, uint64(e.MaxTimestamp))
		b = binary.BigEndian.AppendUint32(b, uint32(e.LeaderEpoch))
		b = binary.BigEndian.AppendUint32(b, uint32(e.RecordCount))
		b = binary.BigEndian.AppendUint64(b, uint64(e.Position))
		b = binary.BigEndian.AppendUint64(b, uint64(e.Length))
		b = binary.BigEndian.AppendUint32(b, e.CRC)
	}
	return b
}

func appendTrailer(b, footer []byte) []byte {
	b = binary.BigEndian.AppendUint32(b, uint32(len(footer)))
	b = binary.BigEndian.AppendUint32(b, crc32.Checksum(footer, castagnoli))
	b = binary.BigEndian.AppendUint16(b, formatVersion)
	b = binary.BigEndian.AppendUint16(b, 0)
	return append(b, formatMagic...)
}

func corrupt(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrCorrupt}, args...)...)
}

// footerLen checks the trailer (the last trailerLen bytes of tail) of an
// object of size bytes and returns the footer's length.
func footerLen(tail []byte, size int64) (int64, error) {
	if len(tail) < trailerLen || size < headerLen+4+trailerLen || int64(len(tail)) > size {
		return 0, corrupt("object of %d bytes too short for a footer", size)
	}
	t := tail[len(tail)-trailerLen:]
	if string(t[12:16]) != formatMagic {
		return 0, corrupt("trailer magic %q", t[12:16])
	}
	if v := binary.BigEndian.Uint16(t[8:]); v != formatVersion {
		return 0, corrupt("format version %d (this build reads %d)", v, formatVersion)
	}
	if r := binary.BigEndian.Uint16(t[10:]); r != 0 {
		return 0, corrupt("trailer reserved field %d", r)
	}
	n := int64(binary.BigEndian.Uint32(t))
	if n < 4 || (n-4)%entryLen != 0 || n > size-headerLen-trailerLen {
		return 0, corrupt("footer length %d in an object of %d bytes", n, size)
	}
	return n, nil
}

// DecodeFooter decodes the footer of an object of size bytes from tail, the
// object's last len(tail) bytes, which must hold the footer and trailer.
// Every failed check is ErrCorrupt.
func DecodeFooter(tail []byte, size int64) (Footer, error) {
	n, err := footerLen(tail, size)
	if err != nil {
		return Footer{}, err
	}
	if n+trailerLen > int64(len(tail)) {
		return Footer{}, corrupt("footer of %d bytes not within the %d bytes given", n, len(tail))
	}
	footer := tail[int64(len(tail))-trailerLen-n : len(tail)-trailerLen]
	if got, want := crc32.Checksum(footer, castagnoli), binary.BigEndian.Uint32(tail[len(tail)-trailerLen+4:]); got != want {
		return Footer{}, corrupt("footer CRC32C %08x, trailer says %08x", got, want)
	}
	count := int64(binary.BigEndian.Uint32(footer))
	if count != (n-4)/entryLen {
		return Footer{}, corrupt("footer count %d, length for %d", count, (n-4)/entryLen)
	}
	f := Footer{DataEnd: size - trailerLen - n, Entries: make([]Entry, 0, count)}
	prevEnd := int64(headerLen)
	for b := footer[4:]; len(b) > 0; b = b[entryLen:] {
		var e Entry
		copy(e.TopicID[:], b)
		e.Partition = int32(binary.BigEndian.Uint32(b[16:]))
		e.BaseOffset = int64(binary.BigEndian.Uint64(b[20:]))
		e.LastOffset = int64(binary.BigEndian.Uint64(b[28:]))
		e.MaxTimestamp = int64(binary.BigEndian.Uint64(b[36:]))
		e.LeaderEpoch = int32(binary.BigEndian.Uint32(b[44:]))
		e.RecordCount = int32(binary.BigEndian.Uint32(b[48:]))
		e.Position = int64(binary.BigEndian.Uint64(b[52:]))
		e.Length = int64(binary.BigEndian.Uint64(b[60:]))
		e.CRC = binary.BigEndian.Uint32(b[68:])
		i := len(f.Entries)
		switch {
		case e.Partition < 0 || e.BaseOffset < 0 || e.LastOffset < e.BaseOffset || e.RecordCount < 0:
			return Footer{}, corrupt("entry %d: partition %d offsets %d..%d records %d", i, e.Partition, e.BaseOffset, e.LastOffset, e.RecordCount)
		case e.Length <= 0 || e.Position < prevEnd || e.Length > f.DataEnd-e.Position:
			return Footer{}, corrupt("entry %d: %d bytes at %d outside %d..%d", i, e.Length, e.Position, prevEnd, f.DataEnd)
		}
		prevEnd = e.Position + e.Length
		f.Entries = append(f.Entries, e)
	}
	return f, nil
}

// ReadFooter reads and decodes the footer of the object key of size bytes
// (known from the etcd objects/ record or a List) with one or two ranged
// reads.
func ReadFooter(ctx context.Context, r RangeReader, key string, size int64) (Footer, error) {
	if size < headerLen+4+trailerLen {
		return Footer{}, fmt.Errorf("objstore: footer of %s: %w", key, corrupt("object of %d bytes too short for a footer", size))
	}
	want := min(size, tailGuess)
	tail, err := r.Get(ctx, key, size-want, want)
	if err != nil {
		return Footer{}, fmt.Errorf("objstore: footer of %s: %w", key, err)
	}
	n, err := footerLen(tail, size)
	if err != nil {
		return Footer{}, fmt.Errorf("objstore: footer of %s: %w", key, err)
	}
	if need := n + trailerLen; need > int64(len(tail)) {
		more, err := r.Get(ctx, key, size-need, need-int64(len(tail)))
		if err != nil {
			return Footer{}, fmt.Errorf("objstore: footer of %s: %w", key, err)
		}
		tail = slices.Concat(more, tail) // more may be a cache's shared slice
	}
	f, err := DecodeFooter(tail, size)
	if err != nil {
		return Footer{}, fmt.Errorf("objstore: footer of %s: %w", key, err)
	}
	return f, nil
}

// ReadEntry reads one entry's bytes with a ranged read and checks them
// against the entry's CRC32C.
func ReadEntry(ctx context.Context, r RangeReader, key string, e Entry) ([]byte, error) {
	if e.Position < headerLen || e.Length <= 0 {
		return nil, fmt.Errorf("objstore: entry of %s: %w", key, corrupt("%d bytes at %d", e.Length, e.Position))
	}
	b, err := r.Get(ctx, key, e.Position, e.Length)
	if err != nil {
		return nil, fmt.Errorf("objstore: entry of %s at %d: %w", key, e.Position, err)
	}
	if got := crc32.Checksum(b, castagnoli); got != e.CRC {
		return nil, fmt.Errorf("objstore: entry of %s at %d: %w", key, e.Position, corrupt("CRC32C %08x, footer says %08x", got, e.CRC))
	}
	return b, nil
}

// Verify checks a whole object held in memory: header, footer and every
// entry's CRC32C (used before merging objects or by a scrubber).
func Verify(obj []byte) (Footer, error) {
	if len(obj) < headerLen || !bytes.Equal(obj[:4], []byte(formatMagic)) || binary.BigEndian.Uint16(obj[4:]) != formatVersion {
		return Footer{}, corrupt("bad header")
	}
	f, err := DecodeFooter(obj, int64(len(obj)))
	if err != nil {
		return Footer{}, err
	}
	for i, e := range f.Entries {
		if got := crc32.Checksum(obj[e.Position:e.Position+e.Length], castagnoli); got != e.CRC {
			return Footer{}, corrupt("entry %d: CRC32C %08x, footer says %08x", i, got, e.CRC)
		}
	}
	return f, nil
}
