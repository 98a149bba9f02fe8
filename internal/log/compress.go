package log

import (
	"bytes"
	"slices"
	"sync"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/s2"
	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"
)

// Compression of a records area, used by the cleaner to re-encode a batch
// with its original codec: gzip (default level), snappy as one raw block
// (what franz-go writes; Kafka's clients read it as well as the xerial
// framing), lz4 frames (Kafka's framing) of 64 KiB blocks, zstd frames. The
// encoders are pooled.

var gzipWriters = sync.Pool{New: func() any { return gzip.NewWriter(nil) }}

// lz4Writers write frames of 64 KiB blocks, the size Kafka's Java client
// writes, not pierrec/lz4's default of 4 MiB: every reader of a frame holds a
// buffer of its block size while it decodes, and a cleaned batch is read by
// every consumer.
var lz4Writers = sync.Pool{New: func() any {
	w := lz4.NewWriter(nil)
	if err := w.Apply(lz4.BlockSizeOption(lz4.Block64Kb)); err != nil {
		panic(err) // a constant option the library accepts
	}
	return w
}}

var zstdEncoder = sync.OnceValues(func() (*zstd.Encoder, error) {
	return zstd.NewWriter(nil, zstd.WithEncoderConcurrency(1))
})

// compressArea appends src compressed with codec to dst.
func compressArea(dst []byte, codec int8, src []byte) ([]byte, error) {
	switch codec {
	case CodecNone:
		return append(dst, src...), nil
	case CodecSnappy:
		n := s2.MaxEncodedLen(len(src))
		if n < 0 {
			return dst, invalidf("records area of %d bytes too large for snappy", len(src))
		}
		start := len(dst)
		dst = slices.Grow(dst, n)
		out := s2.EncodeSnappy(dst[start:start+n], src)
		return dst[:start+len(out)], nil
	case CodecZstd:
		enc, err := zstdEncoder()
		if err != nil {
			return dst, err
		}
		return enc.EncodeAll(src, dst), nil
	}
	buf := bytes.NewBuffer(dst)
	switch codec {
	case CodecGzip:
		w := gzipWriters.Get().(*gzip.Writer)
		defer gzipWriters.Put(w)
		w.Reset(buf)
		if _, err := w.Write(src); err != nil {
			return dst, err
		}
		if err := w.Close(); err != nil {
			return dst, err
		}
	case CodecLz4:
		w := lz4Writers.Get().(*lz4.Writer)
		defer lz4Writers.Put(w)
		w.Reset(buf)
		if _, err := w.Write(src); err != nil {
			return dst, err
		}
		if err := w.Close(); err != nil {
			return dst, err
		}
	default:
		return dst, corruptf("unknown compression codec %d", codec)
	}
	return buf.Bytes(), nil
}
