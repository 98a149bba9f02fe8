package log

import (
	"sync"

	"github.com/twmb/franz-go/pkg/kgo"
)

// Decompression reuses franz-go's decoders. Validation decompresses into
// pooled buffers, walks the records and hands the buffer back; DecodeRecords
// decompresses into fresh memory because its records alias the result.
//
// Known limit: kgo's default decompressor bounds output at MaxInt32 bytes,
// so a small compressed batch can still make validation allocate a lot.

// maxPooledBuf is the largest buffer kept for reuse; rarer, larger ones are
// left to the garbage collector so a burst of huge batches does not pin
// memory.
const maxPooledBuf = 8 << 20

var decompressBufs sync.Pool // of *[]byte

// bufPool lets kgo decompress into our pooled buffers.
type bufPool struct{}

func (bufPool) GetDecompressBytes(src []byte, _ kgo.CompressionCodecType) []byte {
	if p, ok := decompressBufs.Get().(*[]byte); ok {
		return (*p)[:0]
	}
	return make([]byte, 0, max(4*len(src), 64<<10))
}

// PutDecompressBytes is called by kgo only when a decompression failed.
func (bufPool) PutDecompressBytes(b []byte) { putDecompressBuf(b) }

func putDecompressBuf(b []byte) {
	if cap(b) == 0 || cap(b) > maxPooledBuf {
		return
	}
	b = b[:0]
	decompressBufs.Put(&b)
}

var (
	pooledDecompressor = kgo.DefaultDecompressor(bufPool{})
	plainDecompressor  = kgo.DefaultDecompressor()
)

// decompress returns the records area src decompressed with codec. With
// pooled set, the result (when codec is not CodecNone) is a pooled buffer
// that the caller must return with putDecompressBuf once done with it.
// Failures are ErrCorrupt.
func decompress(src []byte, codec int8, pooled bool) ([]byte, error) {
	if codec == CodecNone {
		return src, nil
	}
	if codec > CodecZstd || codec < 0 {
		return nil, corruptf("unknown compression codec %d", codec)
	}
	d := plainDecompressor
	if pooled {
		d = pooledDecompressor
	}
	out, err := d.Decompress(src, kgo.CompressionCodecType(codec))
	if err != nil {
		return nil, corruptf("decompressing codec %d: %v", codec, err)
	}
	return out, nil
}
