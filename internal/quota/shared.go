package quota

import (
	"fmt"
	"maps"

	"github.com/sluice-io/sluice/internal/envelope"
)

// Quotas shared by several brokers (cluster mode): the bytes of
// quotas.json (same envelope and payload, store.go) in an
// envelope.Shared, the etcd key shared/quotas. Alter computes the change
// from the shared copy inside its compare-and-swap and publishes the
// result only once stored; the other brokers' changes arrive through
// ApplyShared (the broker's watch); of two copies the one with the higher
// revision wins. Each broker enforces them on its own traffic, as Kafka's
// brokers each do.

// NewShared is an empty quota store kept in s; load s's current bytes
// with ApplyShared before serving.
func NewShared(s envelope.Shared) *Store {
	return &Store{quotas: map[Entity]map[string]float64{}, shared: s}
}

// ApplyShared makes data (the shared quotas.json bytes; nil: no quotas)
// at revision rev the quotas in use, unless those in use are as new. An
// unreadable copy is an error wrapping ErrCorrupt and changes nothing.
func (s *Store) ApplyShared(data []byte, rev int64) error {
	q, err := decodeShared(data)
	if err != nil {
		return err
	}
	s.publishAt(q, rev)
	return nil
}

func decodeShared(data []byte) (map[Entity]map[string]float64, error) {
	if data == nil {
		return map[Entity]map[string]float64{}, nil
	}
	q, err := decode(data)
	if err != nil {
		return nil, fmt.Errorf("%w: shared quotas: %v", ErrCorrupt, err)
	}
	return q, nil
}

func (s *Store) publishAt(q map[Entity]map[string]float64, rev int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if rev > s.rev {
		s.rev, s.quotas = rev, q
		s.refresh()
	}
}

// alterShared is Alter on the shared copy; called with alterMu held.
func (s *Store) alterShared(changes map[Entity][]Op) error {
	var stored map[Entity]map[string]float64
	rev, err := s.shared.Update(func(cur []byte) ([]byte, error) {
		q, err := decodeShared(cur)
		if err != nil {
			return nil, err
		}
		next := applyOps(q, changes)
		if maps.EqualFunc(q, next, maps.Equal) {
			stored = q
			return cur, nil
		}
		stored = next
		return encode(next)
	})
	if err != nil {
		return fmt.Errorf("storing the shared quotas: %w", err)
	}
	s.publishAt(stored, rev)
	return nil
}
