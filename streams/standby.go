package streams

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Standby replicas (Kafka Streams' num.standby.replicas): with
// StandbyReplicas(n), the group leader gives every partition of the app's
// topics, besides its owner, n other workers as standbys (the next workers
// in member order), in the assignment's user data. A worker keeps a warm
// copy of the table partitions it is standby for, in its local store, by
// tailing their changelogs; when such a partition becomes its own, the
// restore reads only what the copy lacks. Standby copies need on-disk
// state: with InMemoryState the option is ignored (logged).
//
// The leader also keeps a partition from a worker whose copy lags more
// than AcceptableRecoveryLag when another worker's copy does not (Kafka
// Streams' acceptable.recovery.lag; see recovery_lag.go).

// StandbyReplicas sets how many workers keep a warm copy of each table
// partition besides its owner (default 0, as Kafka Streams).
func StandbyReplicas(n int) Option {
	return func(c *appConfig) error {
		if n < 0 {
			return fmt.Errorf("streams: StandbyReplicas %d < 0", n)
		}
		c.standbys = n
		return nil
	}
}

// standbyInterval is how often standby copies catch up with their
// changelogs.
const standbyInterval = 500 * time.Millisecond

// RestoreStats counts records read from changelogs into stores.
type RestoreStats struct {
	// Restored is the number of changelog records restored into table
	// partitions this worker was assigned (and global tables).
	Restored int64
	// Standby is the number of changelog records applied to standby
	// copies.
	Standby int64
}

// RestoreStats returns the app's restore counters.
func (a *App) RestoreStats() RestoreStats {
	return RestoreStats{Restored: a.restored.Load(), Standby: a.standbyApplied.Load()}
}

// standbys is a worker's standby copies.
type standbys struct {
	w *worker

	mu     sync.Mutex // held while a copy is opened, caught up or closed
	want   map[string][]int32
	stores map[*tableCore]map[int32]store
	stop   context.CancelFunc
	done   chan struct{}

	// lagMu guards lags: each copy's lag behind its changelog as of its
	// last catch-up, reported in the member metadata (recovery_lag.go).
	lagMu sync.Mutex
	lags  map[*tableCore]map[int32]int64
}

func (sb *standbys) setLag(tc *tableCore, p int32, lag int64, ok bool) {
	sb.lagMu.Lock()
	defer sb.lagMu.Unlock()
	if !ok {
		delete(sb.lags[tc], p)
		return
	}
	if sb.lags[tc] == nil {
		sb.lags[tc] = map[int32]int64{}
	}
	sb.lags[tc][p] = lag
}

// setWanted records the standby partitions of the latest assignment.
func (sb *standbys) setWanted(m map[string][]int32) {
	sb.mu.Lock()
	sb.want = m
	sb.mu.Unlock()
}

// initStandbys prepares the standby copies, before the group client that
// reads the assignments exists.
func (w *worker) initStandbys() {
	if w.cfg.standbys == 0 || w.app.mem != nil {
		return
	}
	if w.cfg.inMemory {
		w.log.Warn("streams: StandbyReplicas ignored with InMemoryState")
		return
	}
	w.sb = &standbys{w: w, stores: map[*tableCore]map[int32]store{}, done: make(chan struct{}), lags: map[*tableCore]map[int32]int64{}}
}

// startStandbys starts keeping the copies current (once the transport
// exists).
func (w *worker) startStandbys() {
	sb := w.sb
	if sb == nil {
		return
	}
	ctx, cancel := context.WithCancel(w.ctx)
	sb.stop = cancel
	go func() {
		defer close(sb.done)
		t := time.NewTicker(standbyInterval)
		defer t.Stop()
		for {
			sb.tick(ctx)
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
}

// tick opens the wanted copies that are not this worker's own partitions,
// closes the others, and catches each up with its changelog.
func (sb *standbys) tick(ctx context.Context) {
	sb.mu.Lock()
	defer sb.mu.Unlock()
	for _, tc := range sb.w.tables {
		if tc.source == nil || tc.app.cfg.inMemory {
			continue
		}
		wanted := map[int32]bool{}
		for _, p := range sb.want[tc.source.name] {
			wanted[p] = true
		}
		open := sb.stores[tc]
		if open == nil {
			open = map[int32]store{}
			sb.stores[tc] = open
		}
		tc.mu.Lock()
		for p := range wanted {
			if tc.parts[p] != nil || tc.pending[p] {
				delete(wanted, p) // this worker's own
			}
		}
		tc.mu.Unlock()
		for p, st := range open {
			if !wanted[p] {
				st.close()
				delete(open, p)
				sb.setLag(tc, p, 0, false)
			}
		}
		ps := make([]int32, 0, len(wanted))
		for p := range wanted {
			ps = append(ps, p)
		}
		slices.Sort(ps)
		for _, p := range ps {
			if ctx.Err() != nil {
				return
			}
			st := open[p]
			if st == nil {
				var err error
				if st, err = tc.openStore(p); err != nil {
					sb.w.log.Warn("streams: opening a standby copy", "table", tc.name, "partition", p, "err", err)
					continue
				}
				open[p] = st
			}
			if err := sb.catchUp(ctx, tc, p, st); err != nil && ctx.Err() == nil {
				sb.w.log.Warn("streams: standby copy catching up", "table", tc.name, "partition", p, "err", err)
			}
		}
	}
}

func (sb *standbys) catchUp(ctx context.Context, tc *tableCore, p int32, st store) error {
	from, err := st.checkpoint()
	if err != nil {
		return err
	}
	start, end, err := sb.w.tr.offsets(ctx, tc.changelog, p)
	if err != nil {
		return err
	}
	from = max(from, start)
	if from >= end {
		sb.setLag(tc, p, 0, true)
		return nil
	}
	var ws []kv
	var n int64
	err = sb.w.tr.read(ctx, tc.changelog, p, from, end, func(r *kgo.Record) error {
		ws = append(ws, kv{k: r.Key, v: r.Value, del: r.Value == nil})
		n++
		if len(ws) >= restoreBatch {
			if err := st.apply(ws, r.Offset+1); err != nil {
				return err
			}
			ws = ws[:0]
		}
		return nil
	})
	if err == nil {
		err = st.apply(ws, end)
	}
	if err == nil {
		sb.setLag(tc, p, 0, true)
	} else if ckpt, cerr := st.checkpoint(); cerr == nil {
		sb.setLag(tc, p, end-ckpt, true)
	}
	sb.w.app.standbyApplied.Add(n)
	sb.w.app.metrics.addStandby(tc.name, n)
	return err
}

// release closes the copies of partitions this worker was just assigned,
// so their restore opens the store (from the copy's checkpoint).
func (w *worker) releaseStandbys(m map[string][]int32) {
	sb := w.sb
	if sb == nil {
		return
	}
	sb.mu.Lock()
	defer sb.mu.Unlock()
	for tc, open := range sb.stores {
		for _, p := range m[tc.source.name] {
			if st := open[p]; st != nil {
				st.close()
				delete(open, p)
				sb.setLag(tc, p, 0, false)
			}
		}
	}
}

func (w *worker) stopStandbys() {
	sb := w.sb
	if sb == nil {
		return
	}
	sb.stop()
	<-sb.done
	sb.mu.Lock()
	defer sb.mu.Unlock()
	for _, open := range sb.stores {
		for p, st := range open {
			st.close()
			delete(open, p)
		}
	}
}

// standbyMemberBalancer adds standby partitions to the leader's plan: for
// each partition of each member, the next n members (in member id order)
// get it as standby, in their assignment's user data (JSON topic ->
// partitions).
type standbyMemberBalancer struct {
	kgo.GroupMemberBalancer
	n int
	// The acceptable recovery lag gate (recovery_lag.go): the members'
	// reported lags by member id, the tables' source topics.
	acceptable int64
	lags       map[string]map[string]map[int32]int64
	tables     map[string]string
	w          *worker // the leader's, for its probing rebalance
}

func (b *standbyMemberBalancer) SetBalanceInfo(bi kgo.BalanceInfo) {
	if i, ok := b.GroupMemberBalancer.(kgo.GroupMemberBalancerInfo); ok {
		i.SetBalanceInfo(bi)
	}
}

func (b *standbyMemberBalancer) BalanceOrError(topics map[string]int32) (kgo.IntoSyncAssignment, error) {
	var into kgo.IntoSyncAssignment
	if be, ok := b.GroupMemberBalancer.(kgo.GroupMemberBalancerOrError); ok {
		var err error
		if into, err = be.BalanceOrError(topics); err != nil {
			return nil, err
		}
	} else {
		into = b.GroupMemberBalancer.Balance(topics)
	}
	as := into.IntoSyncAssignment()
	sort.Slice(as, func(i, j int) bool { return as[i].MemberID < as[j].MemberID })
	decoded := make([]kmsg.ConsumerMemberAssignment, len(as))
	standby := make([]map[string][]int32, len(as))
	for i := range as {
		if err := decoded[i].ReadFrom(as[i].MemberAssignment); err != nil {
			return nil, fmt.Errorf("streams: standby plan: %w", err)
		}
		standby[i] = map[string][]int32{}
	}
	assign := make([]map[string][]int32, len(as))
	lags := make([]map[string]map[int32]int64, len(as))
	for i := range as {
		assign[i], lags[i] = assignmentMap(decoded[i]), b.lags[as[i].MemberID]
	}
	var ends map[string]map[int32]int64
	if b.w != nil {
		ends = b.w.changelogEnds()
	}
	warm := gateRecoveryLag(assign, topics, b.tables, lags, ends, b.acceptable)
	warming := false
	for i := range warm {
		if warm[i] != nil { // moved: every member's assignment may have changed
			for j := range as {
				decoded[j].Topics = assignmentTopics(assign[j])
			}
			break
		}
	}
	for i := range as {
		for _, t := range decoded[i].Topics {
			for k := 1; k <= b.n && k < len(as); k++ {
				j := (i + k) % len(as)
				standby[j][t.Topic] = append(standby[j][t.Topic], t.Partitions...)
			}
		}
	}
	// A planned worker kept from a partition warms up a copy of it (Kafka
	// Streams' warm-up replica), and a probing rebalance gives it the
	// partition once the copy has caught up.
	for i := range as {
		for t, ps := range warm[i] {
			for _, p := range ps {
				if !slices.Contains(standby[i][t], p) {
					standby[i][t] = append(standby[i][t], p)
				}
			}
			warming = true
		}
	}
	if warming && b.w != nil {
		b.w.scheduleProbe()
	}
	for i := range as {
		ud, err := json.Marshal(standby[i])
		if err != nil {
			return nil, err
		}
		decoded[i].UserData = ud
		as[i].MemberAssignment = decoded[i].AppendTo(nil)
	}
	return syncAssignments(as), nil
}

func (b *standbyMemberBalancer) Balance(topics map[string]int32) kgo.IntoSyncAssignment {
	into, _ := b.BalanceOrError(topics)
	return into
}

type syncAssignments []kmsg.SyncGroupRequestGroupAssignment

func (s syncAssignments) IntoSyncAssignment() []kmsg.SyncGroupRequestGroupAssignment { return s }

// parseStandbys reads a member's standby partitions from its assignment.
func parseStandbys(assignment []byte) map[string][]int32 {
	var a kmsg.ConsumerMemberAssignment
	if err := a.ReadFrom(assignment); err != nil || len(a.UserData) == 0 {
		return nil
	}
	var m map[string][]int32
	if json.Unmarshal(a.UserData, &m) != nil {
		return nil
	}
	return m
}
