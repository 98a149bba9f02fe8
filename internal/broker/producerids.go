package broker

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io/fs"
	"path/filepath"
	"sync"

	"github.com/sluice-io/sluice/internal/vfs"
)

// producerIDsFile persists the end of the last allocated producer-id
// block. Layout (version 1, 16 bytes, big-endian):
//
//	version  u32 (1)
//	next     i64 first id not yet handed out in any block
//	crc      u32 CRC-32C of the preceding 12 bytes
//
// Ids are handed out from blocks of producerIDBlock; a block is persisted
// before its first id is used, so a crash skips at most the rest of a
// block and never reuses an id.
const (
	producerIDsFile  = "producer_ids"
	producerIDBlock  = 1000
	producerIDsBytes = 16
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

type producerIDs struct {
	fs   vfs.FS
	path string

	mu               sync.Mutex
	nextID, blockEnd int64
}

func openProducerIDs(fsys vfs.FS, dir string) (*producerIDs, error) {
	p := &producerIDs{fs: fsys, path: filepath.Join(dir, producerIDsFile)}
	f, err := fsys.OpenFile(p.path, 0, 0)
	if errors.Is(err, fs.ErrNotExist) {
		return p, nil
	}
	if err != nil {
		return nil, fmt.Errorf("opening %s: %w", p.path, err)
	}
	defer f.Close()
	buf := make([]byte, producerIDsBytes+1)
	n, _ := f.ReadAt(buf, 0)
	buf = buf[:n]
	if n != producerIDsBytes || binary.BigEndian.Uint32(buf) != 1 ||
		crc32.Checksum(buf[:12], castagnoli) != binary.BigEndian.Uint32(buf[12:]) {
		return nil, fmt.Errorf("%s is corrupt (%d bytes); refusing to start rather than reuse producer ids", p.path, n)
	}
	p.nextID = int64(binary.BigEndian.Uint64(buf[4:]))
	p.blockEnd = p.nextID
	return p, nil
}

func (p *producerIDs) next() (int64, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.nextID >= p.blockEnd {
		end := p.blockEnd + producerIDBlock
		buf := make([]byte, 0, producerIDsBytes)
		buf = binary.BigEndian.AppendUint32(buf, 1)
		buf = binary.BigEndian.AppendUint64(buf, uint64(end))
		buf = binary.BigEndian.AppendUint32(buf, crc32.Checksum(buf, castagnoli))
		if err := vfs.WriteFileAtomic(p.fs, p.path, buf, 0o644); err != nil {
			return 0, err
		}
		p.blockEnd = end
	}
	id := p.nextID
	p.nextID++
	return id, nil
}

// atLeast makes sure no id below next is handed out: a lost producer_ids
// (#12) must not make the broker reuse ids its logs still know. It reports
// whether it moved the counter.
func (p *producerIDs) atLeast(next int64) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.nextID >= next {
		return false
	}
	p.nextID, p.blockEnd = next, next
	return true
}
