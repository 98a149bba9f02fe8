package streams

import (
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// SendAt appends key and value to topic t of the Driver's log with the
// record timestamp ts (Kafka Streams' TestInputTopic.pipeInput with a
// timestamp): event time, for joins and windows, independent of the
// Driver's clock.
func SendAt[K, V any](d *Driver, t *Topic[K, V], key K, value V, ts time.Time) error {
	r, err := t.record(key, value, nil)
	if err != nil {
		return err
	}
	r.Timestamp = ts
	return d.b.produceSync(r)
}

// SendTombstoneAt appends a record with key and a null value (a
// tombstone: a delete for a table read from t) with timestamp ts.
func SendTombstoneAt[K, V any](d *Driver, t *Topic[K, V], key K, ts time.Time) error {
	kb, err := t.key.Encode(key)
	if err != nil {
		return fmt.Errorf("streams: topic %s: key: %w", t.Name(), err)
	}
	return d.b.produceSync(&kgo.Record{Topic: t.Name(), Key: kb, Timestamp: ts})
}
