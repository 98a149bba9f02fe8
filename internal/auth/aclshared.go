package auth

import (
	"fmt"

	"github.com/sluice-io/sluice/internal/envelope"
)

// ACLs shared by several brokers (cluster mode): the bytes of acls.json
// (same envelope and payload, aclstore.go) in an envelope.Shared, the
// etcd key shared/acls. A change is computed from the shared copy inside
// its compare-and-swap and published here only once stored; the other
// brokers' changes arrive through ApplyShared (the broker's watch), and
// of two copies the one with the higher revision wins, so an update and
// the watch's echo of it may arrive in either order.

// SetShared makes s the ACLs' store from now on instead of the file (or
// memory); call it before serving, then ApplyShared with s's current
// bytes, which replace the ACLs held (even none at revision 0).
func (a *ACLAuthorizer) SetShared(s envelope.Shared) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.shared, a.file = s, nil
	a.pubMu.Lock()
	a.rev = -1
	a.pubMu.Unlock()
}

// ApplyShared makes data (the shared acls.json bytes; nil: no ACLs) at
// revision rev the ACLs Authorize uses, unless the ACLs in use are as
// new. An unreadable copy is an error wrapping ErrCorruptACLs and changes
// nothing.
func (a *ACLAuthorizer) ApplyShared(data []byte, rev int64) error {
	acls, err := decodeSharedACLs(data)
	if err != nil {
		return err
	}
	a.publishAt(acls, rev)
	return nil
}

func decodeSharedACLs(data []byte) ([]ACL, error) {
	if data == nil {
		return nil, nil
	}
	acls, err := decodeACLs(data)
	if err != nil {
		return nil, fmt.Errorf("%w: shared ACLs: %v", ErrCorruptACLs, err)
	}
	return acls, nil
}

// publishAt makes acls the ones in use if rev is newer than theirs.
func (a *ACLAuthorizer) publishAt(acls []ACL, rev int64) {
	a.pubMu.Lock()
	defer a.pubMu.Unlock()
	if rev > a.rev {
		a.rev = rev
		a.idx.Store(buildIndex(acls))
	}
}

// updateShared stores change's result of the shared ACLs (nil: no change)
// and publishes it; called with mu held.
func (a *ACLAuthorizer) updateShared(change func(cur []ACL) []ACL) error {
	var stored []ACL
	rev, err := a.shared.Update(func(cur []byte) ([]byte, error) {
		acls, err := decodeSharedACLs(cur)
		if err != nil {
			return nil, err
		}
		next := change(acls)
		if next == nil {
			stored = acls
			return cur, nil
		}
		stored = next
		return encodeACLs(next)
	})
	if err != nil {
		return fmt.Errorf("storing the shared ACLs: %w", err)
	}
	a.publishAt(stored, rev)
	return nil
}
