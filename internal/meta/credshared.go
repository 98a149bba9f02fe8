package meta

import (
	"fmt"
	"log/slog"

	"github.com/sluice-io/sluice/internal/envelope"
)

// SCRAM credentials shared by several brokers (cluster mode): the bytes
// of credentials.json (same envelope and payload, credentials.go) in an
// envelope.Shared, the etcd key shared/credentials. Alter computes the
// change from the shared copy inside its compare-and-swap and publishes
// the result only once stored; the other brokers' changes arrive through
// ApplyShared (the broker's watch); of two copies the one with the higher
// revision wins.

// NewSharedCredentials is an empty credential store kept in s; load s's
// current bytes with ApplyShared before serving.
func NewSharedCredentials(s envelope.Shared, logger *slog.Logger) *Credentials {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Credentials{logger: logger, users: map[string]map[string]ScramCredential{}, shared: s}
}

// ApplyShared makes data (the shared credentials.json bytes; nil: no
// users) at revision rev the credentials in use, unless those in use are
// as new. An unreadable copy is an error wrapping ErrCorruptMetadata and
// changes nothing.
func (c *Credentials) ApplyShared(data []byte, rev int64) error {
	users, err := decodeSharedCredentials(data)
	if err != nil {
		return err
	}
	c.publishAt(users, rev)
	return nil
}

func decodeSharedCredentials(data []byte) (map[string]map[string]ScramCredential, error) {
	if data == nil {
		return map[string]map[string]ScramCredential{}, nil
	}
	users, err := decodeCredentials(data)
	if err != nil {
		return nil, fmt.Errorf("%w: shared credentials: %v", ErrCorruptMetadata, err)
	}
	return users, nil
}

func (c *Credentials) publishAt(users map[string]map[string]ScramCredential, rev int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if rev > c.rev {
		c.rev, c.users = rev, users
	}
}

// alterShared is AlterGroups on the shared copy; called with alterMu held.
func (c *Credentials) alterShared(groups [][]CredentialChange) ([]error, error) {
	var (
		stored map[string]map[string]ScramCredential
		errs   []error
	)
	rev, err := c.shared.Update(func(cur []byte) ([]byte, error) {
		users, err := decodeSharedCredentials(cur)
		if err != nil {
			return nil, err
		}
		next, e, changed := applyCredentialChanges(users, groups)
		errs = e
		if !changed {
			stored = users
			return cur, nil
		}
		stored = next
		data, err := encodeCredentials(next)
		if err != nil {
			return nil, fmt.Errorf("encoding credentials: %w", err)
		}
		return data, nil
	})
	if err != nil {
		return nil, fmt.Errorf("storing the shared credentials: %w", err)
	}
	c.publishAt(stored, rev)
	return errs, nil
}
