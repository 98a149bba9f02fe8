package cluster

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// TopicPartition names a partition by its topic id (Kafka's Uuid) and
// partition index: topics can be renamed in etcd-backed metadata later, ids
// never change.
type TopicPartition struct {
	TopicID   [16]byte
	Partition int32
}

// String is Kafka's Uuid text (URL-safe base64 without padding) and the
// partition, as in the etcd keys: "AAAAAAAAAAAAAAAAAAAAAA/3".
func (tp TopicPartition) String() string {
	return encodeTopicID(tp.TopicID) + "/" + strconv.FormatInt(int64(tp.Partition), 10)
}

func encodeTopicID(id [16]byte) string { return base64.RawURLEncoding.EncodeToString(id[:]) }

// ErrBadValue is wrapped by errors about a key or value in etcd that this
// version cannot read (unknown version field, malformed JSON or key).
var ErrBadValue = errors.New("cluster: unreadable etcd key or value")

// valueVersion is the "v" field of every value this package writes; a
// reader refuses other versions rather than guess.
const valueVersion = 1

// keys builds the key layout under /sluice/<cluster-id>/ (DESIGN.md,
// "Cluster mode"). Offsets in index keys are 20 decimal digits, so the
// keys of a partition sort by offset.
type keys struct{ root string }

func newKeys(clusterID string) keys { return keys{root: rootPrefix + clusterID + "/"} }

func (k keys) brokers() string                 { return k.root + "brokers/" }
func (k keys) broker(node int32) string        { return k.brokers() + strconv.FormatInt(int64(node), 10) }
func (k keys) leaders() string                 { return k.root + "leaders/" }
func (k keys) leader(tp TopicPartition) string { return k.leaders() + tp.String() }
func (k keys) epoch(tp TopicPartition) string  { return k.root + "epochs/" + tp.String() }
func (k keys) hw(tp TopicPartition) string     { return k.root + "hw/" + tp.String() }
func (k keys) logStart(tp TopicPartition) string {
	return k.root + "logstart/" + tp.String()
}
func (k keys) producers(tp TopicPartition) string {
	return k.root + "producers/" + tp.String()
}
func (k keys) producerIDs() string            { return k.root + "producerids" }
func (k keys) indexAll() string               { return k.root + "index/" }
func (k keys) index(tp TopicPartition) string { return k.indexAll() + tp.String() + "/" }
func (k keys) indexEntry(tp TopicPartition, base int64) string {
	return k.index(tp) + offsetKey(base)
}
func (k keys) topics() string            { return k.root + "topics/" }
func (k keys) topic(name string) string  { return k.topics() + name }
func (k keys) objects() string           { return k.root + "objects/" }
func (k keys) sharedAll() string         { return k.root + "shared/" }
func (k keys) shared(name string) string { return k.sharedAll() + name }
func (k keys) object(name string) string { return k.objects() + name }

func offsetKey(o int64) string { return fmt.Sprintf("%020d", o) }

// parseTP reads "<topic id>/<partition>" (the tail of a leaders/ key).
func parseTP(s string) (TopicPartition, error) {
	id, p, ok := strings.Cut(s, "/")
	if !ok {
		return TopicPartition{}, fmt.Errorf("%w: partition key %q", ErrBadValue, s)
	}
	var tp TopicPartition
	b, err := base64.RawURLEncoding.DecodeString(id)
	if err != nil || len(b) != 16 {
		return TopicPartition{}, fmt.Errorf("%w: topic id %q", ErrBadValue, id)
	}
	copy(tp.TopicID[:], b)
	n, err := strconv.ParseInt(p, 10, 32)
	if err != nil || n < 0 {
		return TopicPartition{}, fmt.Errorf("%w: partition %q", ErrBadValue, p)
	}
	tp.Partition = int32(n)
	return tp, nil
}

// parseIndexKey reads "<topic id>/<partition>/<base offset>" (the tail of an
// index/ key).
func parseIndexKey(s string) (TopicPartition, int64, error) {
	i := strings.LastIndexByte(s, '/')
	if i < 0 {
		return TopicPartition{}, 0, fmt.Errorf("%w: index key %q", ErrBadValue, s)
	}
	tp, err := parseTP(s[:i])
	if err != nil {
		return TopicPartition{}, 0, err
	}
	base, err := strconv.ParseInt(s[i+1:], 10, 64)
	if err != nil || base < 0 {
		return TopicPartition{}, 0, fmt.Errorf("%w: index key %q", ErrBadValue, s)
	}
	return tp, base, nil
}

// The values. Each carries V (valueVersion); json.Marshal of these structs
// is deterministic, which the commit's compare of the hw value relies on.

type brokerValue struct {
	V         int             `json:"v"`
	Node      int32           `json:"node"`
	Host      string          `json:"host"`
	Port      int32           `json:"port"`
	Listeners []endpointValue `json:"listeners,omitempty"` // every listener's advertised address, the first one's also in host and port
	Rack      string          `json:"rack,omitempty"`
	Started   int64           `json:"started"` // unix ms
	Lease     int64           `json:"lease"`   // the registration's etcd lease id (its incarnation)
}

type endpointValue struct {
	Name string `json:"name"`
	Host string `json:"host"`
	Port int32  `json:"port"`
}

type leaderValue struct {
	V     int   `json:"v"`
	Node  int32 `json:"node"`
	Epoch int32 `json:"epoch"`
}

type epochValue struct {
	V     int   `json:"v"`
	Epoch int32 `json:"epoch"`
}

type offsetValue struct {
	V      int   `json:"v"`
	Offset int64 `json:"offset"`
}

type indexValue struct {
	V            int    `json:"v"`
	Object       string `json:"object"`
	Position     int64  `json:"pos"`
	Length       int64  `json:"len"`
	LastOffset   int64  `json:"last"`
	MaxTimestamp int64  `json:"max_ts"`
	LeaderEpoch  int32  `json:"epoch"`
	Records      int64  `json:"records"`
	CRC          uint32 `json:"crc"` // CRC32C of the range
}

// producersValue is a partition's producer state: the encoding of
// internal/log's ProducerState (a producer state snapshot, version 2:
// idempotent producers, open and aborted transactions), base64 in JSON.
type producersValue struct {
	V     int    `json:"v"`
	State []byte `json:"state"`
}

// producerIDsValue is the cluster's producer id counter: every id below
// Next has been handed out in some block.
type producerIDsValue struct {
	V    int   `json:"v"`
	Next int64 `json:"next"`
}

type objectValue struct {
	V          int      `json:"v"`
	Size       int64    `json:"size"`
	Created    int64    `json:"created"` // unix ms
	Partitions []string `json:"partitions"`
}

func encode(v any) string {
	// Only the structs above (numbers, strings, a string slice) are
	// encoded here: json.Marshal cannot fail on them.
	b, _ := json.Marshal(v)
	return string(b)
}

func encodeOffset(o int64) string { return encode(offsetValue{V: valueVersion, Offset: o}) }

// decode reads a value and checks its version field.
func decode(key string, b []byte, v any) error {
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("%w: %s: %w", ErrBadValue, key, err)
	}
	var ver struct {
		V int `json:"v"`
	}
	_ = json.Unmarshal(b, &ver)
	if ver.V != valueVersion {
		return fmt.Errorf("%w: %s: version %d, this broker reads %d", ErrBadValue, key, ver.V, valueVersion)
	}
	return nil
}
