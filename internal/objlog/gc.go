package objlog

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/sluice-io/sluice/internal/cluster"
	"github.com/sluice-io/sluice/internal/objstore"
)

// The object garbage collector. Objects become garbage two ways:
//
//   - Unreferenced: every index entry naming the object was deleted
//     (retention and DeleteRecords move a partition's log start with
//     cluster.Member.DeleteIndexBelow, which deletes the entries wholly
//     below it; a deleted topic's entries go with it). Its objects/<name>
//     record stays until the collector deletes the object and then the
//     record.
//   - Orphaned: an object in the store under the flushers' prefix with no
//     objects/<name> record: a flush wrote it and its commit never applied
//     (a broker killed between the write and the commit, a commit of
//     unknown outcome that was not applied, a best-effort delete that
//     failed).
//
// A round reads the object records (Client.Objects) BEFORE the index
// (Client.ScanIndex): a commit writes an object's record and its index
// entries in one txn, and entries are never written again for an old
// object, so a record read at revision R with no entry at a later revision
// is garbage for good. It is deleted only once it has been seen
// unreferenced for GCConfig.DeleteDelay (Kafka's log.segment.delete.delay.ms:
// a fetch that found the entry just before retention moved may still be
// reading the object). An orphan is deleted only when the store says it is
// older than GCConfig.OrphanAge, far longer than a flush's write-then-commit
// (RetryTimeout): a young object without a record may be a flush whose
// commit is still being made. The store's object is deleted before its
// record, so a collector stopped in between leaves a record of a missing
// object, which the next round deletes (S3's Delete of a missing key
// succeeds). Rounds of collectors on several brokers at once are safe (every
// step is idempotent); the broker runs one on the controller only, to
// spare the store and etcd the duplicate listing.

// Defaults of GCConfig.
const (
	// DefaultGCInterval is Kafka's log.retention.check.interval.ms (5 min).
	DefaultGCInterval = 5 * time.Minute
	// DefaultDeleteDelay is Kafka's log.segment.delete.delay.ms (60 s).
	DefaultDeleteDelay = time.Minute
	// DefaultOrphanAge is how old an object without a record must be
	// before it is deleted (1 h).
	DefaultOrphanAge = time.Hour
)

// GCConfig configures a GC. Zero values mean the defaults.
type GCConfig struct {
	// Interval is the time between rounds of Run (DefaultGCInterval).
	Interval time.Duration
	// DeleteDelay is how long an object must have been seen unreferenced
	// before it is deleted (DefaultDeleteDelay).
	DeleteDelay time.Duration
	// OrphanAge is the age (the store's last-modified time) an object
	// without a record must reach before it is deleted (DefaultOrphanAge).
	OrphanAge time.Duration
	// ObjectPrefix is the flushers' Config.ObjectPrefix (default "data/"):
	// only objects under it are considered orphans.
	ObjectPrefix string
	// Clock gives the time (default the wall clock).
	Clock Clock
	// Logger gets the collector's log lines (default slog.Default()).
	Logger *slog.Logger
}

// GCStats is what one round found and did.
type GCStats struct {
	Objects       int   // object records read
	Referenced    int   // of those, named by an index entry
	Waiting       int   // unreferenced, not yet past DeleteDelay
	Deleted       int   // unreferenced objects deleted (object and record)
	DeletedBytes  int64 // their sizes, from their records
	Orphans       int   // objects in the store without a record, old enough, deleted
	OrphanBytes   int64 // their sizes, from the store's listing
	YoungOrphans  int   // objects without a record not yet OrphanAge old
	DeleteFailure int   // deletes that failed (tried again next round)
}

// GC is cluster mode's object garbage collector (see above). Round runs
// one round; Run runs rounds until its context ends. A GC is used by one
// goroutine at a time.
type GC struct {
	cfg    GCConfig
	client *cluster.Client
	store  objstore.Store
	log    *slog.Logger

	mu           sync.Mutex
	unreferenced map[string]time.Time // object name -> when first seen unreferenced
}

// NewGC makes a collector of the objects recorded in client's cluster and
// stored in store.
func NewGC(cfg GCConfig, client *cluster.Client, store objstore.Store) *GC {
	if cfg.Interval <= 0 {
		cfg.Interval = DefaultGCInterval
	}
	if cfg.DeleteDelay <= 0 {
		cfg.DeleteDelay = DefaultDeleteDelay
	}
	if cfg.OrphanAge <= 0 {
		cfg.OrphanAge = DefaultOrphanAge
	}
	if cfg.ObjectPrefix == "" {
		cfg.ObjectPrefix = DefaultObjectPrefix
	}
	if cfg.Clock == nil {
		cfg.Clock = wallClock{}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &GC{cfg: cfg, client: client, store: store, log: cfg.Logger, unreferenced: map[string]time.Time{}}
}

// Run runs a round at once and then every Interval until ctx ends, when it
// returns ctx's error. A failed round is logged and tried again at the
// next interval.
func (g *GC) Run(ctx context.Context) error {
	for {
		if _, err := g.Round(ctx); err != nil && ctx.Err() == nil {
			g.log.Warn("object garbage collection round failed; trying again later", "err", err, "next_in", g.cfg.Interval)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-g.cfg.Clock.After(g.cfg.Interval):
		}
	}
}

// Round runs one round: it reads the object records, then the index, then
// lists the store under ObjectPrefix, and deletes what is garbage (see
// above). An error reading etcd or listing the store ends the round with
// nothing deleted by that step; a failed delete is counted and retried in
// a later round.
func (g *GC) Round(ctx context.Context) (GCStats, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	var st GCStats
	records := map[string]int64{} // name -> size
	if _, err := g.client.Objects(ctx, func(r cluster.ObjectRecord) error {
		records[r.Name] = r.Size
		return nil
	}); err != nil {
		return st, fmt.Errorf("objlog: garbage collection: reading object records: %w", err)
	}
	st.Objects = len(records)
	referenced := map[string]bool{}
	if _, err := g.client.ScanIndex(ctx, func(_ cluster.TopicPartition, e cluster.IndexEntry) error {
		referenced[e.Object] = true
		return nil
	}); err != nil {
		return st, fmt.Errorf("objlog: garbage collection: reading the index: %w", err)
	}
	now := g.cfg.Clock.Now()
	for name := range g.unreferenced {
		if _, ok := records[name]; !ok {
			delete(g.unreferenced, name) // deleted by another collector
		}
	}
	for name, size := range records {
		if referenced[name] {
			st.Referenced++
			continue
		}
		since, ok := g.unreferenced[name]
		if !ok {
			g.unreferenced[name] = now
			since = now
		}
		if now.Sub(since) < g.cfg.DeleteDelay {
			st.Waiting++
			continue
		}
		if err := g.deleteUnreferenced(ctx, name); err != nil {
			if ctx.Err() != nil {
				return st, ctx.Err()
			}
			st.DeleteFailure++
			g.log.Warn("deleting an unreferenced object failed; trying again next round", "object", name, "err", err)
			continue
		}
		delete(g.unreferenced, name)
		st.Deleted++
		st.DeletedBytes += size
	}
	if err := g.store.List(ctx, g.cfg.ObjectPrefix, func(o objstore.ObjectInfo) error {
		if _, ok := records[o.Key]; ok || !strings.HasPrefix(o.Key, g.cfg.ObjectPrefix) {
			return nil
		}
		if now.Sub(o.LastModified) < g.cfg.OrphanAge {
			st.YoungOrphans++
			return nil
		}
		if err := g.store.Delete(ctx, o.Key); err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			st.DeleteFailure++
			g.log.Warn("deleting an orphaned object failed; trying again next round", "object", o.Key, "err", err)
			return nil
		}
		st.Orphans++
		st.OrphanBytes += o.Size
		return nil
	}); err != nil {
		return st, fmt.Errorf("objlog: garbage collection: listing the store: %w", err)
	}
	if st.Deleted > 0 || st.Orphans > 0 || st.DeleteFailure > 0 {
		g.log.Info("object garbage collection", "deleted", st.Deleted, "deleted_bytes", st.DeletedBytes,
			"orphans_deleted", st.Orphans, "orphan_bytes", st.OrphanBytes, "waiting", st.Waiting,
			"failed", st.DeleteFailure, "objects", st.Objects)
	}
	return st, nil
}

// deleteUnreferenced deletes an unreferenced object from the store, then
// its record.
func (g *GC) deleteUnreferenced(ctx context.Context, name string) error {
	if err := g.store.Delete(ctx, name); err != nil && !errors.Is(err, objstore.ErrNotFound) {
		return err
	}
	_, err := g.client.DeleteObject(ctx, name)
	return err
}
