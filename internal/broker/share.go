package broker

// Wiring of the share-group coordinator (internal/share, KIP-932) into the
// broker: __share_group_state (created with
// share.coordinator.state.topic.num.partitions partitions, compacted,
// internal) is replayed into the coordinator at start; share-partition
// state is appended to it by persistShare outside the coordinator's mutex,
// and an acknowledgement is answered only once its state is in the log.
// Share sessions of ShareFetch/ShareAcknowledge live here (shareSessions).
// Lock order: share.Coordinator's mutex before Broker.mu (read: the Topics
// callback); shareWriter.mu is taken with neither held.

import (
	"encoding/base64"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/sluice-io/sluice/internal/coordkey"
	"github.com/sluice-io/sluice/internal/log"
	"github.com/sluice-io/sluice/internal/meta"
	"github.com/sluice-io/sluice/internal/share"
)

// shareWiring is the broker's share-group state.
type shareWiring struct {
	c *share.Coordinator
	t *topic // __share_group_state

	wmu     sync.Mutex
	writers map[share.Key]*shareWriter

	smu      sync.Mutex
	sessions map[shareSessKey]*shareSession
}

// shareWriter serializes the appends of one share-partition and remembers
// the sequence number its last append covered, so that one append serves
// every change made before its snapshot was taken (group commit).
type shareWriter struct {
	mu      sync.Mutex
	written uint64
}

func (b *Broker) openShares() error {
	t := b.topic(share.TopicName) // created on first write, as Kafka does
	b.shares = &shareWiring{t: t, writers: map[share.Key]*shareWriter{}, sessions: map[shareSessKey]*shareSession{}}
	b.shares.c = share.New(share.Config{
		Now:               b.cfg.Now,
		Topics:            b.shareTopics,
		Group:             b.shareGroupSettings,
		SessionTimeout:    b.brokerMs("group.share.session.timeout.ms"),
		HeartbeatInterval: b.brokerMs("group.share.heartbeat.interval.ms"),
		LockDuration:      b.brokerMs("group.share.record.lock.duration.ms"),
		DeliveryLimit:     int16(b.brokerInt("group.share.delivery.count.limit")),
		MaxRecordLocks:    int(b.brokerInt("group.share.partition.max.record.locks")),
		MaxGroupSize:      int(b.brokerInt("group.share.max.size")),
		Logger:            b.logger.With("component", "share-coordinator"),
	})
	if t == nil {
		return nil
	}
	bad := 0
	n, err := b.replayTopic(t, func(p *partition, _ *log.BatchHeader, key, value []byte) error {
		if err := b.shares.c.Replay(key, value); err != nil {
			bad++
			b.logger.Error("skipping a malformed "+share.TopicName+" record", "partition", p.index, "err", err)
		}
		return nil
	}, nil)
	if err != nil {
		return err
	}
	b.logger.Info("loaded share groups", "records", n, "malformed", bad, "groups", len(b.shares.c.ListGroups()))
	return nil
}

func (b *Broker) shareTopics() []share.TopicInfo {
	ts := b.sortedTopics()
	out := make([]share.TopicInfo, 0, len(ts))
	for _, t := range ts {
		if t.meta.Internal {
			continue
		}
		out = append(out, share.TopicInfo{Name: t.meta.Name, ID: t.meta.ID, Partitions: int32(len(t.partitions))})
	}
	return out
}

// shareGroupValue is the effective value of a share.* group config.
func (b *Broker) shareGroupValue(group, name string) string {
	return meta.GroupValue(name, b.store.GroupConfigs(group), b.brokerConfigs())
}

func (b *Broker) shareGroupSettings(group string) share.GroupSettings {
	cfg := b.store.GroupConfigs(group)
	if len(cfg) == 0 {
		return share.GroupSettings{}
	}
	ms := func(name string) time.Duration {
		if _, set := cfg[name]; !set {
			return 0
		}
		n, err := strconv.ParseInt(meta.GroupValue(name, cfg, b.brokerConfigs()), 10, 64)
		if err != nil {
			return 0
		}
		return time.Duration(n) * time.Millisecond
	}
	return share.GroupSettings{SessionTimeout: ms("share.session.timeout.ms"), HeartbeatInterval: ms("share.heartbeat.interval.ms"),
		LockDuration: ms("share.record.lock.duration.ms")}
}

// persistShare makes the share-partition's state durable up to seq: it
// appends the coordinator's current snapshot (or tombstone) unless an
// append already covered seq. Never called under the coordinator's mutex.
func (b *Broker) persistShare(k share.Key, seq uint64) error {
	s := b.shares
	s.wmu.Lock()
	w := s.writers[k]
	if w == nil {
		w = &shareWriter{}
		s.writers[k] = w
	}
	s.wmu.Unlock()
	w.mu.Lock()
	defer w.mu.Unlock()
	if seq != 0 && w.written >= seq {
		return nil
	}
	value, covered := s.c.Persisted(k)
	s.wmu.Lock()
	if s.t == nil {
		n := int32(b.brokerInt("share.coordinator.state.topic.num.partitions"))
		t, err := b.createTopic(meta.Topic{Name: share.TopicName, Partitions: n, Internal: true,
			Configs: map[string]string{"cleanup.policy": "compact", "segment.bytes": "104857600"}})
		if err != nil {
			s.wmu.Unlock()
			b.logger.Error("creating "+share.TopicName+" failed", "err", err)
			return fmt.Errorf("%w: creating %s: %w", kerr.CoordinatorNotAvailable, share.TopicName, err)
		}
		s.t = t
	}
	s.wmu.Unlock()
	p := s.t.partitions[coordkey.Partition(k.Group+":"+uuidString(k.Topic)+":"+strconv.Itoa(int(k.Partition)), int32(len(s.t.partitions)))]
	batch := log.EncodeBatch([]log.KV{{Key: share.EncodeKey(k), Value: value}}, b.cfg.Now().UnixMilli(), -1, -1, false)
	if _, err := p.log.Append(batch); err != nil {
		kerrv := appendError(err)
		if errors.Is(err, log.ErrClosed) {
			kerrv = kerr.NotCoordinator
		}
		b.logger.Warn("writing share-partition state failed", "group", k.Group, "partition", k.Partition, "err", err)
		return fmt.Errorf("%w: %w", kerrv, err)
	}
	w.written = max(w.written, covered)
	return nil
}

// persistShareDirty persists every share-partition the coordinator
// changed on its own (lock expiry, member expiry, releases).
func (b *Broker) persistShareDirty() {
	for _, k := range b.shares.c.TakeDirty() {
		_ = b.persistShare(k, math.MaxUint64) // logged; retried by the next change
	}
}

// tickShares runs the share coordinator's timers and persists what they
// changed (from Broker.ticker).
func (b *Broker) tickShares(now time.Time) time.Time {
	next := b.shares.c.Tick(now)
	b.persistShareDirty()
	b.expireShareSessions()
	return next
}

// shareDeadline hands the share coordinator's earliest deadline, which a
// request may have made earlier, to the ticker.
func (b *Broker) shareDeadline() {
	b.timer.at(shareTimers, b.shares.c.NextDeadline())
}

// uuidString is Kafka's Uuid.toString: unpadded URL-safe base64.
func uuidString(id [16]byte) string { return base64.RawURLEncoding.EncodeToString(id[:]) }

// shareSessKey names a share session: Kafka keys them by group and member.
type shareSessKey struct{ group, member string }

type shareSession struct {
	epoch int32
	parts map[shareTP]bool // the session's partitions; true until answered once
	used  time.Time
}

type shareTP struct {
	topic [16]byte
	part  int32
}

// expireShareSessions forgets sessions of members no longer in their
// group that have not been used for the group's session timeout.
func (b *Broker) expireShareSessions() {
	now := b.cfg.Now()
	timeout := b.brokerMs("group.share.session.timeout.ms")
	s := b.shares
	s.smu.Lock()
	defer s.smu.Unlock()
	for k, sess := range s.sessions {
		if now.Sub(sess.used) > timeout {
			delete(s.sessions, k)
		}
	}
}

// shareInitOffset is where a new share-partition starts, from the group's
// share.auto.offset.reset: latest (the high watermark, Kafka's default),
// earliest (the log start offset) or by_duration:<ISO-8601 duration> (the
// first offset with a timestamp at or after now minus the duration; the
// high watermark when there is none).
func (b *Broker) shareInitOffset(group string, p *partition) int64 {
	v := b.shareGroupValue(group, "share.auto.offset.reset")
	switch {
	case v == "earliest":
		return p.log.LogStartOffset()
	case strings.HasPrefix(v, "by_duration:"):
		d, ok := parseISODuration(strings.TrimPrefix(v, "by_duration:"))
		if !ok {
			break
		}
		off, _, err := p.log.OffsetForTimestamp(b.cfg.Now().Add(-d).UnixMilli())
		if err == nil && off >= 0 {
			return off
		}
	}
	return p.log.HighWatermark()
}

// parseISODuration parses Java's Duration.parse subset the group config
// validator accepts: PnDTnHnMn.nS.
func parseISODuration(s string) (time.Duration, bool) {
	s = strings.ToUpper(strings.TrimPrefix(s, "+"))
	if !strings.HasPrefix(s, "P") {
		return 0, false
	}
	s = s[1:]
	var d time.Duration
	inTime := false
	num := ""
	for _, c := range s {
		switch {
		case c == 'T':
			inTime = true
		case (c >= '0' && c <= '9') || c == '.' || c == ',' || c == '+':
			if c == ',' {
				c = '.'
			}
			if c != '+' {
				num += string(c)
			}
		default:
			f, err := strconv.ParseFloat(num, 64)
			if err != nil {
				return 0, false
			}
			num = ""
			unit := map[rune]time.Duration{'D': 24 * time.Hour, 'H': time.Hour, 'M': time.Minute, 'S': time.Second}[c]
			if c == 'D' && inTime || c != 'D' && !inTime || unit == 0 {
				return 0, false
			}
			d += time.Duration(f * float64(unit))
		}
	}
	return d, num == ""
}

// deleteShareGroup deletes an empty share group and writes tombstones for
// its share-partitions.
func (b *Broker) deleteShareGroup(id string) *kerr.Error {
	keys, kerrv := b.shares.c.DeleteGroup(id)
	if kerrv != nil {
		return kerrv
	}
	b.closeShareSessions(id)
	for _, k := range keys {
		if err := b.persistShare(k, math.MaxUint64); err != nil {
			return storeShareError(err)
		}
	}
	return nil
}

// closeShareSessions forgets every share session of a group.
func (b *Broker) closeShareSessions(group string) {
	b.shares.smu.Lock()
	defer b.shares.smu.Unlock()
	for k := range b.shares.sessions {
		if k.group == group {
			delete(b.shares.sessions, k)
		}
	}
}

// forgetShareTopic deletes the share-partition state of a deleted topic
// (tombstones in __share_group_state), as Kafka does.
func (b *Broker) forgetShareTopic(id [16]byte) {
	if b.shares == nil {
		return
	}
	for _, k := range b.shares.c.ForgetTopic(id) {
		_ = b.persistShare(k, math.MaxUint64) // logged
	}
}
