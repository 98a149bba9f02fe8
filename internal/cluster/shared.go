package cluster

import (
	"bytes"
	"context"
	"fmt"
	"strings"

	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// Shared documents: the cluster-wide stores that a single-node broker
// keeps as files in its data directory, one etcd key each, holding the
// file's exact bytes (internal/envelope: {"version","crc32c","payload"}),
// so that one decoder reads both:
//
//	shared/acls          the ACLs (internal/auth, acls.json)
//	shared/credentials   the SCRAM credentials (internal/meta, credentials.json)
//	shared/quotas        the client quotas (internal/quota, quotas.json)
//
// A change is a compare-and-swap on the key's mod revision, computed from
// the copy etcd holds (UpdateShared); every broker follows the keys with
// WatchShared. A missing key is an empty store. Unlike the other values of
// this package these carry the envelope's "version", not "v".

// Names of the shared documents (the key is shared/<name>).
const (
	SharedACLs        = "acls"
	SharedCredentials = "credentials"
	SharedQuotas      = "quotas"
)

func validShared(name string) error {
	switch name {
	case SharedACLs, SharedCredentials, SharedQuotas:
		return nil
	}
	return fmt.Errorf("%w: shared document %q", ErrInvalid, name)
}

// Shared reads shared/<name>: its bytes (nil when the key does not exist)
// and its mod revision (0 then).
func (c *Client) Shared(ctx context.Context, name string) ([]byte, int64, error) {
	if err := validShared(name); err != nil {
		return nil, 0, err
	}
	rctx, cancel := c.reqCtx(ctx)
	defer cancel()
	resp, err := c.etcd.Get(rctx, c.k.shared(name))
	if err != nil {
		return nil, 0, fmt.Errorf("cluster: reading %s: %w", c.k.shared(name), classify(err))
	}
	if len(resp.Kvs) == 0 {
		return nil, 0, nil
	}
	return resp.Kvs[0].Value, resp.Kvs[0].ModRevision, nil
}

// UpdateShared replaces shared/<name> with what next makes of the stored
// bytes (nil when the key does not exist), in a compare-and-swap on the
// key's mod revision: when another broker changed it meanwhile, next runs
// again on the newer bytes (a few times, then ErrUnavailable,
// "contended"). An error of next refuses the update and is returned as
// is. When next returns bytes equal to cur nothing is written. It returns
// the document now stored and its mod revision: the callers apply it
// locally only after etcd accepted it. ErrUnavailable (Retriable) when
// etcd did not answer: the write may or may not have been applied, and
// the watch says which.
func (c *Client) UpdateShared(ctx context.Context, name string, next func(cur []byte) ([]byte, error)) ([]byte, int64, error) {
	if err := validShared(name); err != nil {
		return nil, 0, err
	}
	key := c.k.shared(name)
	for range 5 {
		cur, rev, err := c.Shared(ctx, name)
		if err != nil {
			return nil, 0, err
		}
		data, err := next(cur)
		if err != nil {
			return nil, 0, err
		}
		if bytes.Equal(data, cur) {
			return cur, rev, nil
		}
		rctx, cancel := c.reqCtx(ctx)
		resp, err := c.etcd.Txn(rctx).
			If(clientv3.Compare(clientv3.ModRevision(key), "=", rev)).
			Then(clientv3.OpPut(key, string(data))).Commit()
		cancel()
		if err != nil {
			return nil, 0, fmt.Errorf("cluster: writing %s: %w", key, classify(err))
		}
		if resp.Succeeded {
			return data, resp.Header.Revision, nil
		}
	}
	return nil, 0, fmt.Errorf("%w: writing %s: contended", ErrUnavailable, key)
}

// WatchShared calls fn with every shared document now (data nil for a
// missing key) and with each change after that, with the key's mod
// revision (for a deletion, the deletion's revision): fn keeps, per
// name, only revisions above the one it holds, since a caller's own
// update may have been applied before the watch delivers it. fn runs on
// the watch's goroutine.
func (c *Client) WatchShared(ctx context.Context, fn func(name string, data []byte, rev int64)) *Watcher {
	prefix := c.k.sharedAll()
	name := func(kv *mvccpb.KeyValue) (string, bool) {
		n := strings.TrimPrefix(string(kv.Key), prefix)
		return n, validShared(n) == nil
	}
	return c.watchPrefix(ctx, prefix, func(kvs []*mvccpb.KeyValue) {
		seen := map[string]bool{}
		for _, kv := range kvs {
			if n, ok := name(kv); ok {
				seen[n] = true
				fn(n, kv.Value, kv.ModRevision)
			}
		}
		for _, n := range []string{SharedACLs, SharedCredentials, SharedQuotas} {
			if !seen[n] {
				fn(n, nil, 0)
			}
		}
	}, func(evs []*clientv3.Event) {
		for _, ev := range evs {
			n, ok := name(ev.Kv)
			if !ok {
				continue
			}
			if ev.Type == clientv3.EventTypeDelete {
				fn(n, nil, ev.Kv.ModRevision)
			} else {
				fn(n, ev.Kv.Value, ev.Kv.ModRevision)
			}
		}
	})
}
