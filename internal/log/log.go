package log

import (
	"log/slog"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sluice-io/sluice/internal/vfs"
)

// Log is one partition's log. Create it with Open.
type Log struct {
	fs     vfs.FS
	dir    string
	logger *slog.Logger
	now    func() time.Time
	cfg    atomic.Pointer[Config]

	// hw mirrors next and lso the log start offset, for lock-free reads.
	hw  atomic.Int64
	lso atomic.Int64

	mu     sync.RWMutex
	segs   []*segment    // by base offset; the last one is active
	next   int64         // offset the next record gets
	prod   producerState // idempotent producers
	txns   txnState      // open and aborted transactions (txn.go)
	snaps  []int64       // offsets of snapshot files on disk, ascending
	err    error         // sticky I/O error; appends fail with it
	closed bool
	// dirDirty: a segment file was created since the directory was last
	// fsynced.
	dirDirty bool
	// busy counts appends and flushes that may touch files after
	// releasing mu; Close waits for them.
	busy sync.WaitGroup

	// Group commit: one fsync at a time, and the watermark it reached.
	syncMu    sync.Mutex
	synced    atomic.Int64 // every offset below it is fsynced
	lastFlush atomic.Int64 // Unix ms of the last completed fsync
	// lastExpiry is the Unix ms of Tick's last producer expiry check.
	lastExpiry atomic.Int64
	syncBuf    []*segment // reused by syncTo; guarded by syncMu
	onFlush    func(time.Duration)

	// rollMu serialises making rolled segments durable and writing
	// snapshots (see finishRoll), and removing or replacing segments
	// (retention.go, clean.go).
	rollMu sync.Mutex

	// corruptions counts damaged batches found by reads and Scrub
	// (verify.go).
	corruptions atomic.Int64

	lc lifecycle // retention, DeleteRecords, cleaning, disk space; see retention.go
	lz lazyState // Options.Lazy; see lazy.go
}

// Open opens the log in opts.Dir, creating it if needed, and recovers it
// (see recover.go). Corruption that cannot be cut off as a torn tail is an
// error.
func Open(opts Options) (*Log, error) {
	l := &Log{
		fs:      opts.FS,
		dir:     opts.Dir,
		logger:  opts.Logger,
		now:     opts.Now,
		prod:    make(producerState),
		onFlush: opts.OnFlush,
	}
	l.lc.space = opts.Space
	if l.fs == nil {
		l.fs = vfs.Default
	}
	if l.logger == nil {
		l.logger = slog.Default()
	}
	if l.now == nil {
		l.now = time.Now
	}
	cfg := opts.Config
	l.cfg.Store(&cfg)
	l.lz.prepare = opts.Prepare
	l.lz.lazyLoad = opts.Lazy || opts.Files != nil // Files implies Lazy
	l.lz.files = opts.Files
	if l.lz.lazyLoad || opts.LazyCreate {
		if dormant, err := l.openLazy(); err != nil || dormant {
			return l, err
		}
	}
	_, err := l.fs.Stat(l.dir)
	l.lz.fresh = vfs.IsNotExist(err)
	if err := l.wakeRecover(); err != nil {
		l.closeFiles()
		return nil, err
	}
	l.lastFlush.Store(l.now().UnixMilli())
	return l, nil
}

// segmentFor returns the segment holding offset off, which must be within
// [log start, next). Called under mu.
func (l *Log) segmentFor(off int64) *segment {
	i := sort.Search(len(l.segs), func(i int) bool { return l.segs[i].base > off })
	return l.segs[max(i-1, 0)]
}

func (l *Log) active() *segment { return l.segs[len(l.segs)-1] }

// HighWatermark returns the offset the next appended record will get; on
// a single node it is also the high watermark.
func (l *Log) HighWatermark() int64 {
	if e, ok := l.asleepEnds(); ok {
		return e.next
	}
	if l.enter() != nil {
		return 0
	}
	defer l.leave()
	return l.hw.Load()
}

// LogStartOffset returns the first offset of the log.
func (l *Log) LogStartOffset() int64 {
	if e, ok := l.asleepEnds(); ok {
		return e.logStart
	}
	if l.enter() != nil {
		return 0
	}
	defer l.leave()
	return l.lso.Load()
}

// Size returns the bytes of all segments.
func (l *Log) Size() int64 {
	if !l.enterLoaded() {
		_, size, _ := l.dormantSegments()
		return size
	}
	defer l.leaveLoaded()
	l.mu.RLock()
	defer l.mu.RUnlock()
	var n int64
	for _, s := range l.segs {
		n += s.size.Load()
	}
	return n
}

// NumSegments returns the number of segments.
func (l *Log) NumSegments() int {
	if !l.enterLoaded() {
		n, _, _ := l.dormantSegments()
		return n
	}
	defer l.leaveLoaded()
	l.mu.RLock()
	defer l.mu.RUnlock()
	return len(l.segs)
}

// Dir returns the partition directory.
func (l *Log) Dir() string { return l.dir }

// Config returns the current configuration.
func (l *Log) Config() Config { return *l.cfg.Load() }

// SetConfig replaces the configuration; later appends follow it.
func (l *Log) SetConfig(c Config) { l.cfg.Store(&c) }

// failLocked makes err the sticky error, if there is none yet, and returns
// the sticky error. Called under mu.
func (l *Log) failLocked(err error) error {
	if l.err == nil {
		l.err = storageErr(err)
		l.logger.Error("log failed; appends disabled until reopened", "error", err)
	}
	return l.err
}

// fail is failLocked for callers not holding mu.
func (l *Log) fail(err error) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.failLocked(err)
}

// segmentIndex returns the index in segs of the segment with base offset
// base, or len(segs). Called under mu.
func (l *Log) segmentIndex(base int64) int {
	i := sort.Search(len(l.segs), func(i int) bool { return l.segs[i].base >= base })
	if i < len(l.segs) && l.segs[i].base == base {
		return i
	}
	return len(l.segs)
}
