package cluster

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// Watcher is a running watch; Stop ends its goroutine.
type Watcher struct {
	cancel context.CancelFunc
	done   chan struct{}
	once   sync.Once
}

// Stop ends the watch and waits for its goroutine (and so for any
// callback in progress) to return. Do not call it from the callback.
// Client.Close and the end of the context given to the watch stop it too.
func (w *Watcher) Stop() {
	w.once.Do(w.cancel)
	<-w.done
}

// scan reads every key under prefix in pages of indexPage keys, all at one
// revision (the first page's, or rev if non-zero), and returns it.
func (c *Client) scan(ctx context.Context, prefix string, rev int64, fn func([]*mvccpb.KeyValue) error) (int64, error) {
	start, end := prefix, clientv3.GetPrefixRangeEnd(prefix)
	for {
		rctx, cancel := c.reqCtx(ctx)
		opts := []clientv3.OpOption{clientv3.WithRange(end), clientv3.WithLimit(indexPage)}
		if rev > 0 {
			opts = append(opts, clientv3.WithRev(rev))
		}
		resp, err := c.etcd.Get(rctx, start, opts...)
		cancel()
		if err != nil {
			return 0, fmt.Errorf("cluster: reading %s: %w", prefix, classify(err))
		}
		if rev == 0 {
			rev = resp.Header.Revision
		}
		if err := fn(resp.Kvs); err != nil {
			return 0, err
		}
		if !resp.More || len(resp.Kvs) == 0 {
			return rev, nil
		}
		start = string(resp.Kvs[len(resp.Kvs)-1].Key) + "\x00"
	}
}

// watchPrefix keeps a view of the keys under prefix: reset gets every key
// (at the start, and again after the watch broke, e.g. on compaction or
// an etcd leader loss), apply the events since. Both run on the watch's
// goroutine, one at a time.
func (c *Client) watchPrefix(ctx context.Context, prefix string, reset func([]*mvccpb.KeyValue), apply func([]*clientv3.Event)) *Watcher {
	ctx, cancel := context.WithCancel(ctx)
	stopOnClose := context.AfterFunc(c.closed, cancel)
	w := &Watcher{cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(w.done)
		defer stopOnClose()
		const minBackoff, maxBackoff = 100 * time.Millisecond, 5 * time.Second
		backoff := minBackoff
		wait := func() bool {
			t := time.NewTimer(backoff)
			defer t.Stop()
			backoff = min(2*backoff, maxBackoff)
			select {
			case <-ctx.Done():
				return false
			case <-t.C:
				return true
			}
		}
		for ctx.Err() == nil {
			var all []*mvccpb.KeyValue
			rev, err := c.scan(ctx, prefix, 0, func(kvs []*mvccpb.KeyValue) error {
				all = append(all, kvs...)
				return nil
			})
			if err != nil {
				if ctx.Err() == nil {
					c.log.Warn("listing for a watch failed; retrying", "prefix", prefix, "err", err)
					wait()
				}
				continue
			}
			reset(all)
			for resp := range c.etcd.Watch(clientv3.WithRequireLeader(ctx), prefix, clientv3.WithPrefix(), clientv3.WithRev(rev+1)) {
				if err := resp.Err(); err != nil {
					c.log.Warn("watch broke; listing again", "prefix", prefix, "err", err)
					break
				}
				if len(resp.Events) > 0 {
					apply(resp.Events)
				}
				backoff = minBackoff
			}
			if ctx.Err() == nil {
				wait()
			}
		}
	}()
	return w
}

// Brokers lists the live brokers by node id.
func (c *Client) Brokers(ctx context.Context) ([]BrokerInfo, error) {
	var out []BrokerInfo
	_, err := c.scan(ctx, c.k.brokers(), 0, func(kvs []*mvccpb.KeyValue) error {
		for _, kv := range kvs {
			if b, err := decodeBroker(kv); err == nil {
				out = append(out, b)
			} else {
				c.log.Warn("skipping an unreadable broker registration", "err", err)
			}
		}
		return nil
	})
	return out, err
}

func decodeBroker(kv *mvccpb.KeyValue) (BrokerInfo, error) {
	var v brokerValue
	if err := decode(string(kv.Key), kv.Value, &v); err != nil {
		return BrokerInfo{}, err
	}
	var eps []Endpoint
	for _, e := range v.Listeners {
		eps = append(eps, Endpoint(e))
	}
	return BrokerInfo{NodeID: v.Node, Host: v.Host, Port: v.Port, Listeners: eps, Rack: v.Rack, Started: time.UnixMilli(v.Started), Lease: v.Lease}, nil
}

// WatchBrokers calls fn with the live brokers (by node id) now and after
// every change: a registration, a Close, an expired lease. fn runs on the
// watch's goroutine.
func (c *Client) WatchBrokers(ctx context.Context, fn func(live []BrokerInfo)) *Watcher {
	live := map[string]BrokerInfo{}
	publish := func() {
		out := make([]BrokerInfo, 0, len(live))
		for _, b := range live {
			out = append(out, b)
		}
		slices.SortFunc(out, func(a, b BrokerInfo) int { return int(a.NodeID) - int(b.NodeID) })
		fn(out)
	}
	put := func(kv *mvccpb.KeyValue) {
		b, err := decodeBroker(kv)
		if err != nil {
			c.log.Warn("skipping an unreadable broker registration", "err", err)
			return
		}
		live[string(kv.Key)] = b
	}
	return c.watchPrefix(ctx, c.k.brokers(), func(kvs []*mvccpb.KeyValue) {
		clear(live)
		for _, kv := range kvs {
			put(kv)
		}
		publish()
	}, func(evs []*clientv3.Event) {
		for _, ev := range evs {
			if ev.Type == clientv3.EventTypeDelete {
				delete(live, string(ev.Kv.Key))
			} else {
				put(ev.Kv)
			}
		}
		publish()
	})
}

// LeaderChange is one partition's leader appearing, changing or going.
type LeaderChange struct {
	Partition TopicPartition
	Leader    LeaderInfo
	// Gone: the partition has no leader now (resigned, or the leader's
	// lease ended); Leader is zero.
	Gone bool
}

// WatchLeaders calls fn with changes of partition leadership. The first
// call, and any after the watch had to start over, has reset set and lists
// every current leader: forget what earlier calls said. fn runs on the
// watch's goroutine.
func (c *Client) WatchLeaders(ctx context.Context, fn func(changes []LeaderChange, reset bool)) *Watcher {
	prefix := c.k.leaders()
	change := func(kv *mvccpb.KeyValue, gone bool) (LeaderChange, bool) {
		tp, err := parseTP(strings.TrimPrefix(string(kv.Key), prefix))
		if err != nil {
			c.log.Warn("skipping an unreadable leader key", "err", err)
			return LeaderChange{}, false
		}
		if gone {
			return LeaderChange{Partition: tp, Gone: true}, true
		}
		var v leaderValue
		if err := decode(string(kv.Key), kv.Value, &v); err != nil {
			c.log.Warn("skipping an unreadable leader value", "err", err)
			return LeaderChange{}, false
		}
		return LeaderChange{Partition: tp, Leader: LeaderInfo{NodeID: v.Node, Epoch: v.Epoch}}, true
	}
	return c.watchPrefix(ctx, prefix, func(kvs []*mvccpb.KeyValue) {
		out := make([]LeaderChange, 0, len(kvs))
		for _, kv := range kvs {
			if ch, ok := change(kv, false); ok {
				out = append(out, ch)
			}
		}
		fn(out, true)
	}, func(evs []*clientv3.Event) {
		out := make([]LeaderChange, 0, len(evs))
		for _, ev := range evs {
			if ch, ok := change(ev.Kv, ev.Type == clientv3.EventTypeDelete); ok {
				out = append(out, ch)
			}
		}
		if len(out) > 0 {
			fn(out, false)
		}
	})
}
