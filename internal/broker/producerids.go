package broker

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io/fs"
	"path/filepath"
	"sync"

	"github.com/sluice-io/sluice/internal/txn"
	"github.com/sluice-io/sluice/internal/vfs"
)

// producerIDsFile persists the end of the last allocated producer-id
// block. Layout (version 1, 16 bytes, big-endian):
//
//	version  u32 (1)
//	next     i64 first id not yet handed out in any block
//	crc      u32 CRC-32C of the preceding 12 bytes
//
// Ids are handed out in blocks of producerIDBlock: idempotent producers
// take theirs one at a time from a block of their own (next), the
// transaction coordinator gets whole blocks (reserve, called when it asks
// for one, with no coordinator lock held). A block is persisted before
// its first id is used, so a crash skips at most the rest of a block and
// never reuses an id.
const (
	producerIDsFile  = "producer_ids"
	producerIDBlock  = 1000
	producerIDsBytes = 16
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// producerIDs is the broker's producer id allocator. Its mutex is held
// across the persist of a block: only the allocator's callers wait for
// it (an idempotent InitProducerId, or the refill of the transaction
// coordinator's ids), never a coordinator.
type producerIDs struct {
	fs   vfs.FS
	path string

	mu sync.Mutex
	// reserved is the persisted end: every id below it may have been
	// handed out. [nextID, blockEnd) is the idempotent producers' block.
	reserved         int64
	nextID, blockEnd int64
	// found: the file existed at start-up.
	found bool
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
	p.found = true
	buf := make([]byte, producerIDsBytes+1)
	n, _ := f.ReadAt(buf, 0)
	buf = buf[:n]
	if n != producerIDsBytes || binary.BigEndian.Uint32(buf) != 1 ||
		crc32.Checksum(buf[:12], castagnoli) != binary.BigEndian.Uint32(buf[12:]) {
		return nil, fmt.Errorf("%s is corrupt (%d bytes); refusing to start rather than reuse producer ids", p.path, n)
	}
	p.reserved = int64(binary.BigEndian.Uint64(buf[4:]))
	p.nextID, p.blockEnd = p.reserved, p.reserved
	return p, nil
}

// reserveLocked persists the end of a new block and returns it.
func (p *producerIDs) reserveLocked() (txn.ProducerIDBlock, error) {
	end := p.reserved + producerIDBlock
	buf := make([]byte, 0, producerIDsBytes)
	buf = binary.BigEndian.AppendUint32(buf, 1)
	buf = binary.BigEndian.AppendUint64(buf, uint64(end))
	buf = binary.BigEndian.AppendUint32(buf, crc32.Checksum(buf, castagnoli))
	if err := vfs.WriteFileAtomic(p.fs, p.path, buf, 0o644); err != nil {
		return txn.ProducerIDBlock{}, fmt.Errorf("persisting producer ids: %w", err)
	}
	b := txn.ProducerIDBlock{Start: p.reserved, End: end}
	p.reserved = end
	return b, nil
}

// reserve persists a new block for the transaction coordinator.
func (p *producerIDs) reserve() (txn.ProducerIDBlock, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.reserveLocked()
}

// next hands out an id to an idempotent producer.
func (p *producerIDs) next() (int64, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.nextID >= p.blockEnd {
		b, err := p.reserveLocked()
		if err != nil {
			return 0, err
		}
		p.nextID, p.blockEnd = b.Start, b.End
	}
	id := p.nextID
	p.nextID++
	return id, nil
}

// atLeast makes sure no id below next is handed out: a lost producer_ids
// (#12) must not make the broker reuse ids its logs still know. It reports
// whether it moved the counter. It runs before the transaction
// coordinator gets its first block.
func (p *producerIDs) atLeast(next int64) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.reserved >= next {
		return false
	}
	p.reserved, p.nextID, p.blockEnd = next, next, next
	return true
}

// persistCurrent writes the file with the current reserved end when it
// did not exist at start-up, so that later start-ups need not open every
// partition's log to find the highest producer id (datadir.go).
func (p *producerIDs) persistCurrent() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.found {
		return nil
	}
	buf := make([]byte, 0, producerIDsBytes)
	buf = binary.BigEndian.AppendUint32(buf, 1)
	buf = binary.BigEndian.AppendUint64(buf, uint64(p.reserved))
	buf = binary.BigEndian.AppendUint32(buf, crc32.Checksum(buf, castagnoli))
	if err := vfs.WriteFileAtomic(p.fs, p.path, buf, 0o644); err != nil {
		return fmt.Errorf("persisting producer ids: %w", err)
	}
	p.found = true
	return nil
}
