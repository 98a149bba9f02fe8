package broker

import (
	"encoding/base64"
	"errors"
	"fmt"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/sluice-io/sluice/internal/log"
	"github.com/sluice-io/sluice/internal/meta"
)

// topic is the live form of a meta.Topic: its partitions' open logs.
type topic struct {
	meta       meta.Topic
	partitions []*partition
}

// partition is one open log plus the fetch requests waiting for it to grow.
type partition struct {
	topic string
	index int32
	log   *log.Log

	waitMu  sync.Mutex
	waiters []chan struct{}

	// Counters of produced and fetched data, read by the metrics
	// (metrics.go) at scrape time.
	bytesIn, recordsIn, bytesOut, recordsOut atomic.Uint64
}

// addWaiter registers ch to be signalled (without blocking) at the next
// append. Registration happens before the fetch reads, so no append is
// missed between the read and the wait.
func (p *partition) addWaiter(ch chan struct{}) {
	p.waitMu.Lock()
	p.waiters = append(p.waiters, ch)
	p.waitMu.Unlock()
}

func (p *partition) removeWaiter(ch chan struct{}) {
	p.waitMu.Lock()
	for i, w := range p.waiters {
		if w == ch {
			last := len(p.waiters) - 1
			p.waiters[i] = p.waiters[last]
			p.waiters[last] = nil
			p.waiters = p.waiters[:last]
			break
		}
	}
	p.waitMu.Unlock()
}

// notify wakes every waiting fetch.
func (p *partition) notify() {
	p.waitMu.Lock()
	for _, w := range p.waiters {
		select {
		case w <- struct{}{}:
		default:
		}
	}
	p.waitMu.Unlock()
}

// partitionMetadataFile records which topic id a partition directory
// belongs to, in Kafka's format, so a directory left behind by a deleted
// topic is never adopted by a new topic of the same name:
//
//	version: 0
//	topic_id: <base64url topic id, no padding>
const partitionMetadataFile = "partition.metadata"

func partitionDir(dataDir, topic string, p int32) string {
	return filepath.Join(dataDir, topic+"-"+strconv.Itoa(int(p)))
}

func encodeTopicID(id [16]byte) string { return base64.RawURLEncoding.EncodeToString(id[:]) }

// loadTopics opens the log of every partition the metadata store knows and
// moves aside (never removes) partition directories that belong to no known
// topic, such as those left by a deletion interrupted by a crash (see
// datadir.go).
func (b *Broker) loadTopics() error {
	known := map[string]bool{}
	ts := b.store.Topics()
	lives, err := b.openTopics(ts)
	if err != nil {
		return err
	}
	for i, t := range ts {
		b.topics[t.Name] = lives[i]
		b.byID[t.ID] = lives[i]
		for i := range t.Partitions {
			known[filepath.Base(partitionDir(b.cfg.DataDir, t.Name, i))] = true
		}
	}
	entries, err := b.cfg.FS.ReadDir(b.cfg.DataDir)
	if err != nil {
		return fmt.Errorf("reading data directory: %w", err)
	}
	for _, e := range entries {
		if !e.IsDir() || known[e.Name()] || !looksLikePartitionDir(e.Name()) {
			continue
		}
		if err := b.moveAside(filepath.Join(b.cfg.DataDir, e.Name()), "no known topic owns it (an interrupted deletion?)"); err != nil {
			return err
		}
	}
	return nil
}

func looksLikePartitionDir(name string) bool {
	if i := strings.LastIndex(name, staleSuffix); i > 0 && looksLikePartitionDir(name[:i]) {
		if _, err := strconv.ParseUint(name[i+len(staleSuffix):], 10, 63); err == nil {
			return false // moved aside (datadir.go)
		}
	}
	if strings.HasSuffix(name, "-delete") {
		return true
	}
	i := strings.LastIndexByte(name, '-')
	if i <= 0 {
		return false
	}
	_, err := strconv.ParseUint(name[i+1:], 10, 31)
	return err == nil
}

func (b *Broker) openTopic(t meta.Topic) (*topic, error) {
	lives, err := b.openTopics([]meta.Topic{t})
	if err != nil {
		return nil, err
	}
	return lives[0], nil
}

// openWorkers is how many partitions are opened (or created, or closed) at
// once: the work is mostly waiting for the disk (fsyncs, a recovery's
// reads), which overlaps, and file systems commit concurrent fsyncs
// together.
const openWorkers = 32

// openTopics opens the partitions of ts, openWorkers at a time; on an
// error it closes what it opened and returns the first error.
func (b *Broker) openTopics(ts []meta.Topic) ([]*topic, error) {
	lives := make([]*topic, len(ts))
	type job struct {
		t, i int32
	}
	var jobs []job
	for ti, t := range ts {
		lives[ti] = &topic{meta: t, partitions: make([]*partition, t.Partitions)}
		for i := range t.Partitions {
			jobs = append(jobs, job{int32(ti), i})
		}
	}
	cfgs := make([]log.Config, len(ts))
	for ti, t := range ts {
		cfgs[ti] = b.logConfig(t.Configs)
	}
	errs := make([]error, len(jobs))
	forEachParallel(len(jobs), func(k int) {
		j := jobs[k]
		lives[j.t].partitions[j.i], errs[k] = b.openPartition(ts[j.t], j.i, cfgs[j.t])
	})
	if err := errors.Join(errs...); err != nil {
		forEachParallel(len(jobs), func(k int) {
			if p := lives[jobs[k].t].partitions[jobs[k].i]; p != nil {
				p.log.Close()
			}
		})
		for _, e := range errs {
			if e != nil {
				return nil, e
			}
		}
	}
	return lives, nil
}

// forEachParallel calls fn(0..n-1) on up to openWorkers goroutines and
// returns when every call has.
func forEachParallel(n int, fn func(int)) {
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(n, openWorkers) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := int(next.Add(1) - 1); k < n; k = int(next.Add(1) - 1) {
				fn(k)
			}
		}()
	}
	wg.Wait()
}

func (b *Broker) openPartition(t meta.Topic, i int32, cfg log.Config) (*partition, error) {
	dir := partitionDir(b.cfg.DataDir, t.Name, i)
	want := "version: 0\ntopic_id: " + encodeTopicID(t.ID) + "\n"
	// The directory is checked (datadir.go) when the log is loaded: at
	// once after an unclean shutdown, on first use otherwise; a new
	// partition's directory is created then (log/lazy.go).
	prepare := func(fresh bool) error {
		write := fresh
		if !fresh {
			var err error
			if write, err = b.checkPartitionDir(dir, t.ID, want); err != nil {
				return err
			}
		}
		if !write {
			return nil
		}
		if err := b.cfg.FS.MkdirAll(dir, 0o755); err != nil { // moved aside
			return err
		}
		if err := b.writePartitionMetadata(dir, want, fresh); err != nil {
			return fmt.Errorf("writing %s: %w", partitionMetadataFile, err)
		}
		return nil
	}
	l, err := log.Open(log.Options{
		FS:     b.cfg.FS,
		Dir:    dir,
		Config: cfg,
		Logger: b.logger, // the log adds its directory (topic-partition)
		Now:    b.cfg.Now,
		Space:  b.lc.space,
		// New partitions are created on first use; with
		// log.lazy.load.enable, cleanly closed ones load then too
		// (log/lazy.go).
		LazyCreate: true,
		Lazy:       b.brokerBool("log.lazy.load.enable"),
		Prepare:    prepare,
		// log.open.files.max: idle partitions loaded on first use are
		// put back to sleep (log/filecap.go); a cap implies Lazy.
		Files:   b.lc.files,
		OnFlush: b.metrics.LogFlushed, // nil-safe without metrics
	})
	if err != nil {
		return nil, fmt.Errorf("opening partition %s-%d: %w", t.Name, i, err)
	}
	return &partition{topic: t.Name, index: i, log: l}, nil
}

func (b *Broker) topic(name string) *topic {
	b.mu.RLock()
	defer b.mu.RUnlock()
	return b.topics[name]
}

func (b *Broker) topicByID(id [16]byte) *topic {
	b.mu.RLock()
	defer b.mu.RUnlock()
	return b.byID[id]
}

// partition finds a live partition, or nil.
func (b *Broker) partition(topicName string, p int32) *partition {
	t := b.topic(topicName)
	if t == nil || p < 0 || int(p) >= len(t.partitions) {
		return nil
	}
	return t.partitions[p]
}

func (b *Broker) sortedTopics() []*topic {
	b.mu.RLock()
	ts := make([]*topic, 0, len(b.topics))
	for _, t := range b.topics {
		ts = append(ts, t)
	}
	b.mu.RUnlock()
	sort.Slice(ts, func(i, j int) bool { return ts[i].meta.Name < ts[j].meta.Name })
	return ts
}

func (b *Broker) allPartitions() []*partition {
	b.mu.RLock()
	defer b.mu.RUnlock()
	var ps []*partition
	for _, t := range b.topics {
		ps = append(ps, t.partitions...)
	}
	return ps
}

// createTopic persists t and opens its partitions. The metadata is written
// first: a crash after it leaves a topic whose logs are created on start.
func (b *Broker) createTopic(t meta.Topic) (*topic, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if _, ok := b.topics[t.Name]; ok {
		return nil, meta.ErrTopicExists
	}
	created, err := b.store.CreateTopic(t)
	if err != nil {
		return nil, err
	}
	live, err := b.openTopic(created)
	if err != nil {
		if _, derr := b.store.DeleteTopic(created.Name); derr != nil {
			b.logger.Error("could not roll back topic creation", "topic", created.Name, "err", derr)
		}
		return nil, err
	}
	b.topics[created.Name] = live
	b.byID[created.ID] = live
	b.logger.Info("created topic", "topic", created.Name, "partitions", created.Partitions, "topic_id", encodeTopicID(created.ID))
	return live, nil
}

// createTopics creates several topics as createTopic does each, with one
// metadata write: created[i] is the live ts[i] when errs[i] is nil.
func (b *Broker) createTopics(ts []meta.Topic) (created []*topic, errs []error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	errs = make([]error, len(ts))
	created = make([]*topic, len(ts))
	var todo []meta.Topic
	var at []int
	for i, t := range ts {
		if _, ok := b.topics[t.Name]; ok {
			errs[i] = meta.ErrTopicExists
			continue
		}
		todo = append(todo, t)
		at = append(at, i)
	}
	stored, serrs, err := b.store.CreateTopics(todo)
	if err != nil {
		for _, i := range at {
			errs[i] = err
		}
		return created, errs
	}
	var open []meta.Topic
	var openAt []int
	for k, i := range at {
		if serrs[k] != nil {
			errs[i] = serrs[k]
			continue
		}
		open = append(open, stored[k])
		openAt = append(openAt, i)
	}
	lives, err := b.openTopics(open)
	for k, t := range open {
		i := openAt[k]
		if err != nil {
			errs[i] = err
			if _, derr := b.store.DeleteTopic(t.Name); derr != nil {
				b.logger.Error("could not roll back topic creation", "topic", t.Name, "err", derr)
			}
			continue
		}
		created[i] = lives[k]
		b.topics[t.Name] = lives[k]
		b.byID[t.ID] = lives[k]
		b.logger.Info("created topic", "topic", t.Name, "partitions", t.Partitions, "topic_id", encodeTopicID(t.ID))
	}
	return created, errs
}

// deleteTopic forgets the topic, then removes its logs.
func (b *Broker) deleteTopic(name string) error {
	b.mu.Lock()
	live, ok := b.topics[name]
	if !ok {
		b.mu.Unlock()
		return meta.ErrUnknownTopic
	}
	if _, err := b.store.DeleteTopic(name); err != nil {
		b.mu.Unlock()
		return err
	}
	delete(b.topics, name)
	delete(b.byID, live.meta.ID)
	b.mu.Unlock()
	for _, p := range live.partitions {
		p.notify()
		if err := p.log.Delete(); err != nil {
			b.logger.Error("removing partition log of deleted topic", "topic", name, "partition", p.index, "err", err)
		}
	}
	b.forgetShareTopic(live.meta.ID) // share.go
	b.logger.Info("deleted topic", "topic", name)
	return nil
}

// addPartitions grows a topic to n partitions.
func (b *Broker) addPartitions(name string, n int32) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	live, ok := b.topics[name]
	if !ok {
		return meta.ErrUnknownTopic
	}
	if err := b.store.SetPartitions(name, n); err != nil {
		return err
	}
	t, _ := b.store.Topic(name)
	parts := append([]*partition(nil), live.partitions...)
	cfg := b.logConfig(t.Configs)
	for i := int32(len(parts)); i < n; i++ {
		p, err := b.openPartition(t, i, cfg)
		if err != nil {
			return err
		}
		parts = append(parts, p)
	}
	// Replace rather than mutate: readers hold the old topic value.
	nt := &topic{meta: t, partitions: parts}
	b.topics[name] = nt
	b.byID[t.ID] = nt
	return nil
}

// setTopicConfigs replaces a topic's overrides and reconfigures its logs.
func (b *Broker) setTopicConfigs(name string, cfg map[string]string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	live, ok := b.topics[name]
	if !ok {
		return meta.ErrUnknownTopic
	}
	if err := b.store.SetTopicConfigs(name, cfg); err != nil {
		return err
	}
	t, _ := b.store.Topic(name)
	nt := &topic{meta: t, partitions: live.partitions}
	b.topics[name] = nt
	b.byID[t.ID] = nt
	c := b.logConfig(t.Configs)
	for _, p := range live.partitions {
		p.log.SetConfig(c)
	}
	return nil
}

func (b *Broker) closeLogs() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	var ps []*partition
	for _, t := range b.topics {
		ps = append(ps, t.partitions...)
	}
	errs := make([]error, len(ps))
	forEachParallel(len(ps), func(k int) {
		if err := ps[k].log.Close(); err != nil && !errors.Is(err, log.ErrClosed) {
			errs[k] = fmt.Errorf("closing %s-%d: %w", ps[k].topic, ps[k].index, err)
		}
	})
	return errors.Join(errs...)
}
