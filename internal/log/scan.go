package log

import (
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/sluice-io/sluice/internal/vfs"
)

// windowReader serves byte ranges of a file below limit from a buffer
// refilled with one pread per miss, so walking many small batches costs few
// system calls.
type windowReader struct {
	f     vfs.File
	limit int64
	buf   []byte
	off   int64 // file position of buf[0]
	n     int   // valid bytes in buf
}

// at returns the n bytes at pos. The result is valid until the next call.
// Reading past limit is ErrCorrupt; I/O errors are returned as they are.
func (r *windowReader) at(pos int64, n int) ([]byte, error) {
	if pos < 0 || n < 0 || pos+int64(n) > r.limit {
		return nil, corruptf("%d bytes at position %d run past the end (%d)", n, pos, r.limit)
	}
	if pos >= r.off && pos+int64(n) <= r.off+int64(r.n) {
		s := pos - r.off
		return r.buf[s : s+int64(n)], nil
	}
	if n > cap(r.buf) {
		r.buf = make([]byte, n)
	}
	want := int(min(int64(cap(r.buf)), r.limit-pos))
	r.buf = r.buf[:cap(r.buf)]
	m, err := r.f.ReadAt(r.buf[:want], pos)
	r.off, r.n = pos, m
	if m < n {
		r.n = 0
		if err == nil || errors.Is(err, io.EOF) {
			return nil, corruptf("file ends at %d, before %d bytes at position %d", pos+int64(m), n, pos)
		}
		return nil, err
	}
	return r.buf[:n], nil
}

// header reads and frames the batch header at pos.
func (r *windowReader) header(pos int64) (BatchHeader, error) {
	b, err := r.at(pos, BatchHeaderLen)
	if err != nil {
		return BatchHeader{}, err
	}
	h, _ := ParseBatchHeader(b)
	if err := checkFraming(h, r.limit-pos); err != nil {
		return h, err
	}
	if h.LastOffsetDelta < 0 {
		return h, corruptf("negative lastOffsetDelta %d", h.LastOffsetDelta)
	}
	return h, nil
}

// Small windows for reads: enough for a run of small batches' headers.
const readWindow = 4 << 10

var readWindows = sync.Pool{New: func() any { b := make([]byte, readWindow); return &b }}

// pooledWindow returns a windowReader over a pooled buffer; hand the buffer
// back with readWindows.Put(buf) once done.
func pooledWindow(f vfs.File, limit int64) (windowReader, *[]byte) {
	buf := readWindows.Get().(*[]byte)
	return windowReader{f: f, limit: limit, buf: *buf}, buf
}

// scanBatches walks the batches of a segment file from position pos, where
// a batch with base offset next must start, up to r.limit. With verify set
// it reads each batch whole and checks its CRC; otherwise only headers.
// Batches must follow each other without offset gaps. fn, if not nil, sees
// each good batch and its position. It returns the position and next offset
// after the last good batch and, if it stopped before r.limit, why.
func scanBatches(r *windowReader, pos, next int64, verify bool, fn func(h *BatchHeader, pos int64)) (int64, int64, error) {
	for pos < r.limit {
		h, err := r.header(pos)
		if err != nil {
			return pos, next, err
		}
		if h.BaseOffset != next {
			return pos, next, corruptf("batch at position %d has base offset %d, want %d", pos, h.BaseOffset, next)
		}
		if verify {
			b, err := r.at(pos, h.Size())
			if err != nil {
				return pos, next, err
			}
			if err := checkCRC(b); err != nil {
				return pos, next, fmt.Errorf("batch at position %d: %w", pos, err)
			}
		}
		if fn != nil {
			fn(&h, pos)
		}
		pos += int64(h.Size())
		next = h.LastOffset() + 1
	}
	return pos, next, nil
}
