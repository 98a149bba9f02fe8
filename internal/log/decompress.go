package log

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"sync"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/s2"
	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"
)

// Decompression of a batch's records area. Validation decompresses into
// pooled buffers, walks the records and hands the buffer back; DecodeRecords
// decompresses into fresh memory because its records alias the result.
//
// Every codec's output is bounded: a batch that decompresses to more than
// the limit fails with ErrMessageTooLarge, and decoding it allocates little
// more than the limit (well under twice it), however small the compressed
// input. The decoders and their readers are pooled, so that decompressing a
// batch does not allocate once the pools are warm.

// MaxDecompressedBytes bounds what a batch's records may decompress to: the
// limit for a log is this or 64 × its max.message.bytes, whichever is
// larger (see decompressLimit). The bound is Sluice's own choice, not a
// Kafka setting: Kafka has none, its broker decompressing a batch as a
// stream, record by record. Sluice decompresses whole batches, so without a
// bound a small compressed produce request (a "zip bomb") could make it
// allocate gigabytes.
const MaxDecompressedBytes = 64 << 20

// decompressLimit is the most bytes a batch's records may decompress to
// when batches may be maxMessageBytes long: max(MaxDecompressedBytes,
// 64 × maxMessageBytes), at most math.MaxInt32.
func decompressLimit(maxMessageBytes int64) int {
	return int(min(max(MaxDecompressedBytes, 64*max(maxMessageBytes, 0)), math.MaxInt32))
}

// tooLarge is the error for a batch whose records decompress to more than
// limit bytes.
func tooLarge(limit int) error {
	return fmt.Errorf("%w: batch decompresses to more than %d bytes", ErrMessageTooLarge, limit)
}

// decompress returns the records area src decompressed with codec, failing
// with ErrMessageTooLarge when it would exceed limit bytes. With pooled set,
// the result (when codec is not CodecNone) is a pooled buffer that the
// caller must return with putDecompressBuf once done with it; without, it is
// fresh memory of exactly its length. Corrupt input is ErrCorrupt. The
// output is held against the process-wide decompression budget (budget.go):
// when that is exhausted the error is ErrDecompressBusy, retriable.
func decompress(src []byte, codec int8, pooled bool, limit int) ([]byte, error) {
	var (
		out []byte
		err error
		g   grant
	)
	switch codec {
	case CodecNone:
		return src, nil
	case CodecGzip:
		out, err = decompressGzip(src, limit, &g)
	case CodecSnappy:
		out, err = decompressSnappy(src, limit, &g)
	case CodecLz4:
		out, err = decompressLz4(src, limit, &g)
	case CodecZstd:
		out, err = decompressZstd(src, limit, &g)
	default:
		return nil, corruptf("unknown compression codec %d", codec)
	}
	if err != nil {
		g.keep(0)
		if errors.Is(err, ErrMessageTooLarge) || errors.Is(err, ErrDecompressBusy) {
			return nil, err
		}
		return nil, corruptf("decompressing codec %d: %v", codec, err)
	}
	if !pooled {
		fresh := make([]byte, len(out))
		copy(fresh, out)
		recycleBuf(out)
		g.keep(0)
		return fresh, nil
	}
	// The caller's buffer holds cap(out) until putDecompressBuf; a decoder
	// that reallocated past what was taken is charged the difference.
	if d := int64(cap(out)) - g.held; d > 0 {
		decompressBudget.force(d)
		g.held += d
	}
	g.keep(cap(out))
	return out, nil
}

// Buffers.

// maxPooledBuf is the largest buffer kept for reuse; rarer, larger ones are
// left to the garbage collector so a burst of huge batches does not pin
// memory.
const maxPooledBuf = 8 << 20

// minDecompressBuf is the smallest buffer allocated for output of unknown
// size.
const minDecompressBuf = 64 << 10

var (
	decompressBufs sync.Pool // of *[]byte holding a buffer
	bufBoxes       sync.Pool // of *[]byte holding nothing, for putDecompressBuf
)

// getDecompressBuf returns an empty buffer, pooled if one is available.
func getDecompressBuf() []byte {
	p, ok := decompressBufs.Get().(*[]byte)
	if !ok {
		return nil
	}
	b := *p
	*p = nil
	bufBoxes.Put(p)
	return b[:0]
}

// bufFor returns an empty buffer with capacity for at least n bytes: a
// pooled one if it is large enough, else a new one of exactly n. A pooled
// buffer that is too small is dropped, not pooled again, so that the pool
// comes to hold buffers large enough for the batches that arrive. The
// buffer's capacity is taken from g, before a pooled buffer is taken out,
// so that a decompression waiting for budget holds no buffer.
func bufFor(n int, g *grant) ([]byte, error) {
	if err := g.take(n); err != nil {
		return nil, err
	}
	b := getDecompressBuf()
	if cap(b) < n {
		return make([]byte, 0, n), nil
	}
	// A larger pooled buffer is used whole if the budget has room for
	// it; else only the n bytes taken are used (and counted), the rest
	// being pool memory this decompression does not add to.
	if extra := cap(b) - n; extra > 0 && !g.tryMore(extra) {
		return b[:0:n], nil
	}
	return b, nil
}

// bufForUnknown returns an empty buffer for output of unknown size from
// srcLen compressed bytes, sized for a typical compression ratio: a pooled
// one if it is large enough, else a new one. Its capacity is taken from g
// as in bufFor.
func bufForUnknown(srcLen, limit int, g *grant) ([]byte, error) {
	return bufFor(min(max(4*srcLen, minDecompressBuf), limit), g)
}

// putDecompressBuf hands back b, a buffer decompress returned pooled:
// its share of the decompression budget is released and it is pooled.
func putDecompressBuf(b []byte) {
	decompressBudget.release(int64(cap(b)))
	recycleBuf(b)
}

// recycleBuf pools b. The box holding it in the pool is reused from
// bufBoxes, so pooling does not allocate.
func recycleBuf(b []byte) {
	if cap(b) == 0 || cap(b) > maxPooledBuf {
		return
	}
	p, ok := bufBoxes.Get().(*[]byte)
	if !ok {
		p = new([]byte)
	}
	*p = b[:0]
	decompressBufs.Put(p)
}

// grow returns a larger buffer holding b's bytes, for output bounded by
// limit; b is left to the garbage collector (see bufFor), and stays
// counted in g until the decompression ends. The capacity doubles until it
// would pass a quarter of the limit, then jumps to the limit, so that
// everything allocated on the way to the limit adds up to about one and a
// half times it rather than two or more.
func grow(b []byte, limit int, g *grant) ([]byte, error) {
	n := max(2*cap(b), minDecompressBuf)
	if n > limit/4 {
		n = limit
	}
	if err := g.take(n); err != nil {
		return nil, err
	}
	nb := make([]byte, len(b), n)
	copy(nb, b)
	return nb, nil
}

// readBounded appends everything r yields to b, failing with
// ErrMessageTooLarge once that would pass limit bytes. On error it pools
// the buffer and returns nil.
func readBounded(b []byte, r io.Reader, limit int, g *grant) ([]byte, error) {
	for {
		if len(b) >= min(cap(b), limit) {
			if len(b) >= limit {
				// Full: one more byte is too many.
				var probe [1]byte
				n, err := io.ReadFull(r, probe[:])
				if n == 0 && err == io.EOF {
					return b, nil // exactly limit bytes
				}
				recycleBuf(b)
				if n > 0 {
					return nil, tooLarge(limit)
				}
				return nil, err
			}
			nb, err := grow(b, limit, g)
			if err != nil {
				recycleBuf(b)
				return nil, err
			}
			b = nb
		}
		n, err := r.Read(b[len(b):min(cap(b), limit)])
		b = b[:len(b)+n]
		if err == io.EOF {
			return b, nil
		}
		if err != nil {
			recycleBuf(b)
			return nil, err
		}
	}
}

// gzip

type gzipDecoder struct {
	r   gzip.Reader
	src bytes.Reader
}

var gzipDecoders = sync.Pool{New: func() any { return new(gzipDecoder) }}

func decompressGzip(src []byte, limit int, g *grant) ([]byte, error) {
	d := gzipDecoders.Get().(*gzipDecoder)
	defer func() {
		d.src.Reset(nil)
		gzipDecoders.Put(d)
	}()
	d.src.Reset(src)
	if err := d.r.Reset(&d.src); err != nil {
		return nil, err
	}
	b, err := bufForUnknown(len(src), limit, g)
	if err != nil {
		return nil, err
	}
	return readBounded(b, &d.r, limit, g)
}

// lz4

type lz4Decoder struct {
	r   *lz4.Reader
	src bytes.Reader
}

var lz4Decoders = sync.Pool{New: func() any { return &lz4Decoder{r: lz4.NewReader(nil)} }}

func decompressLz4(src []byte, limit int, g *grant) ([]byte, error) {
	d := lz4Decoders.Get().(*lz4Decoder)
	defer func() {
		d.r.Reset(nil) // hands its block buffer back to lz4's pool
		d.src.Reset(nil)
		lz4Decoders.Put(d)
	}()
	d.src.Reset(src)
	d.r.Reset(&d.src)
	b, err := bufForUnknown(len(src), limit, g)
	if err != nil {
		return nil, err
	}
	return readBounded(b, d.r, limit, g)
}

// snappy

// xerialMagic starts snappy data in the xerial framing the Java client
// writes: the magic, a 4-byte version and a 4-byte minimum compatible
// version, then chunks, each a 4-byte big-endian length and a raw snappy
// block. Anything else is one raw snappy block. As in franz-go, data is
// taken to be xerial framed when it is longer than the 16-byte header and
// starts with the magic.
var xerialMagic = []byte{0x82, 'S', 'N', 'A', 'P', 'P', 'Y', 0}

const xerialHeaderLen = 16

func decompressSnappy(src []byte, limit int, g *grant) ([]byte, error) {
	if len(src) > xerialHeaderLen && bytes.HasPrefix(src, xerialMagic) {
		return decompressXerial(src[xerialHeaderLen:], limit, g)
	}
	// The block starts with its decoded length; check it before decoding
	// allocates it.
	n, err := s2.DecodedLen(src)
	if err != nil {
		return nil, err
	}
	if n > limit {
		return nil, tooLarge(limit)
	}
	b, err := bufFor(n, g)
	if err != nil {
		return nil, err
	}
	out, err := s2.Decode(b, src)
	if err != nil {
		recycleBuf(b)
		return nil, err
	}
	return out, nil
}

var errXerialFraming = errors.New("malformed xerial snappy framing")

// decompressXerial decodes the chunks of xerial framed snappy, src being
// what follows the header. It sums the chunks' decoded lengths first so
// that the output is bounded before anything is allocated, and allocated
// once.
func decompressXerial(src []byte, limit int, g *grant) ([]byte, error) {
	var total int
	for rest := src; len(rest) > 0; {
		chunk, next, err := xerialChunk(rest)
		if err != nil {
			return nil, err
		}
		n, err := s2.DecodedLen(chunk)
		if err != nil {
			return nil, err
		}
		if total += n; total > limit {
			return nil, tooLarge(limit)
		}
		rest = next
	}
	b, err := bufFor(total, g)
	if err != nil {
		return nil, err
	}
	for len(src) > 0 {
		chunk, next, _ := xerialChunk(src)
		n, _ := s2.DecodedLen(chunk)
		// With the room for it, s2 decodes in place.
		if _, err := s2.Decode(b[len(b):len(b)+n], chunk); err != nil {
			recycleBuf(b)
			return nil, err
		}
		b = b[:len(b)+n]
		src = next
	}
	return b, nil
}

// xerialChunk splits the first chunk off src.
func xerialChunk(src []byte) (chunk, rest []byte, err error) {
	if len(src) < 4 {
		return nil, nil, errXerialFraming
	}
	n := binary.BigEndian.Uint32(src)
	src = src[4:]
	if uint64(n) > uint64(len(src)) {
		return nil, nil, errXerialFraming
	}
	return src[:n], src[n:], nil
}

// zstd
//
// DecodeAll bounds its output only after the fact and grows it with
// append, so on its own a bomb costs several times the limit. Instead the
// frames are walked first (headers and block headers only): when every
// frame declares its content size, the total is checked against the limit
// and DecodeAll decodes into a buffer that already has room for it, so it
// never reallocates (a frame producing more than it declared fails within
// one block, which the slack absorbs). Otherwise the decoder streams into a
// buffer that readBounded grows.

// zstdSlack is room past the declared content size for the one block a
// lying frame may produce before DecodeAll notices.
const zstdSlack = 128<<10 + 64

// maxPooledWindow is the largest window a streaming decoder may have been
// used with and still be pooled: it keeps a buffer of the window's size.
const maxPooledWindow = 8 << 20

type zstdDecoder struct {
	d     *zstd.Decoder
	limit int // the decoder's WithDecoderMaxMemory
	src   bytes.Reader
}

var zstdDecoders sync.Pool // of *zstdDecoder

func getZstdDecoder(limit int) (*zstdDecoder, error) {
	if d, ok := zstdDecoders.Get().(*zstdDecoder); ok {
		if d.limit != limit {
			if err := d.d.ResetWithOptions(nil, zstd.WithDecoderMaxMemory(uint64(limit))); err != nil {
				return nil, err
			}
			d.limit = limit
		}
		return d, nil
	}
	// One synchronous decoder per user; WithDecoderMaxMemory also bounds
	// the window of streamed frames.
	zd, err := zstd.NewReader(nil,
		zstd.WithDecoderConcurrency(1),
		zstd.WithDecoderLowmem(true),
		zstd.WithDecoderMaxMemory(uint64(limit)))
	if err != nil {
		return nil, err
	}
	return &zstdDecoder{d: zd, limit: limit}, nil
}

func decompressZstd(src []byte, limit int, g *grant) ([]byte, error) {
	fr, err := walkZstd(src)
	if err != nil {
		return nil, err
	}
	if fr.skippable {
		// The decoder announces every skippable frame on stderr; drop them
		// here instead (a client has no reason to send any).
		src = stripSkippableZstd(src)
	}
	if fr.sized && fr.total > uint64(limit) {
		return nil, tooLarge(limit)
	}
	if fr.window > uint64(limit) {
		// The decoder refuses it too: streaming would need a buffer of
		// the window's size.
		return nil, fmt.Errorf("%w: zstd window of %d bytes, more than the %d bytes a batch may decompress to",
			ErrMessageTooLarge, fr.window, limit)
	}
	d, err := getZstdDecoder(limit)
	if err != nil {
		return nil, err
	}
	if fr.sized {
		defer zstdDecoders.Put(d)
		b, err := bufFor(int(fr.total)+zstdSlack, g)
		if err != nil {
			return nil, err
		}
		out, err := d.d.DecodeAll(src, b)
		if err != nil {
			recycleBuf(b)
			return nil, zstdErr(err, limit)
		}
		return out, nil
	}
	// Streaming: the decoder keeps a buffer of the window's size.
	if err := g.take(int(fr.window)); err != nil {
		zstdDecoders.Put(d)
		return nil, err
	}
	defer func() {
		d.src.Reset(nil)
		_ = d.d.Reset(nil)
		if fr.window <= maxPooledWindow {
			zstdDecoders.Put(d)
		}
	}()
	d.src.Reset(src)
	if err := d.d.Reset(&d.src); err != nil {
		return nil, err
	}
	b, err := bufForUnknown(len(src), limit, g)
	if err != nil {
		return nil, err
	}
	out, err := readBounded(b, d.d, limit, g)
	return out, zstdErr(err, limit)
}

// zstdErr turns the decoder's size errors, which the checks before decoding
// should leave it no occasion for, into ErrMessageTooLarge.
func zstdErr(err error, limit int) error {
	if errors.Is(err, zstd.ErrDecoderSizeExceeded) || errors.Is(err, zstd.ErrWindowSizeExceeded) {
		return fmt.Errorf("%w (%w)", tooLarge(limit), err)
	}
	return err
}

// zstdFrames is what walkZstd learns of a zstd stream.
type zstdFrames struct {
	sized     bool   // every frame declares its content size
	total     uint64 // the sum of the declared content sizes
	window    uint64 // the largest window
	skippable bool   // there are skippable frames
}

var errZstdFraming = errors.New("malformed zstd frame")

// walkZstd walks the frames of src through their headers and block headers,
// without decoding them. It rejects only what the decoder rejects too.
func walkZstd(src []byte) (zstdFrames, error) {
	fr := zstdFrames{sized: true}
	for len(src) > 0 {
		n, h, err := zstdFrameLen(src)
		if err != nil {
			return fr, err
		}
		src = src[n:]
		if h.Skippable {
			fr.skippable = true
			continue
		}
		if h.HasFCS {
			fr.total += min(h.FrameContentSize, math.MaxInt32) // saturates well below overflow
		} else {
			fr.sized = false
		}
		window := h.WindowSize
		if h.SingleSegment {
			window = h.FrameContentSize
		}
		fr.window = max(fr.window, window)
	}
	return fr, nil
}

// zstdFrameLen returns the length and header of the frame src starts with.
func zstdFrameLen(src []byte) (int, zstd.Header, error) {
	var h zstd.Header
	rest, err := h.DecodeAndStrip(src)
	if err != nil {
		return 0, h, err
	}
	if h.Skippable {
		if uint64(h.SkippableSize) > uint64(len(rest)) {
			return 0, h, errZstdFraming
		}
		return h.HeaderSize + int(h.SkippableSize), h, nil
	}
	n := h.HeaderSize
	for {
		// Block header: 1 bit last block, 2 bits type, 21 bits size.
		if len(src)-n < 3 {
			return 0, h, errZstdFraming
		}
		bh := uint32(src[n]) | uint32(src[n+1])<<8 | uint32(src[n+2])<<16
		n += 3
		size := int(bh >> 3)
		switch (bh >> 1) & 3 {
		case 0, 2: // raw, compressed
		case 1: // RLE: one byte repeated size times
			size = 1
		default:
			return 0, h, errZstdFraming
		}
		if len(src)-n < size {
			return 0, h, errZstdFraming
		}
		n += size
		if bh&1 != 0 {
			break
		}
	}
	if h.HasCheckSum {
		if len(src)-n < 4 {
			return 0, h, errZstdFraming
		}
		n += 4
	}
	return n, h, nil
}

// stripSkippableZstd returns a copy of src, which walkZstd accepted,
// without its skippable frames.
func stripSkippableZstd(src []byte) []byte {
	out := make([]byte, 0, len(src))
	for len(src) > 0 {
		n, h, _ := zstdFrameLen(src)
		if !h.Skippable {
			out = append(out, src[:n]...)
		}
		src = src[n:]
	}
	return out
}
