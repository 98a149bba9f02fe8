package meta

import (
	"fmt"
	"maps"
	"slices"

	"github.com/sluice-io/sluice/internal/envelope"
)

// On-disk format of <dir>/meta.json (formatVersion 1):
//
//	{"version":1,"crc32c":<uint32>,"payload":<payload>}\n
//
// crc32c is the CRC-32C (Castagnoli) of the payload's exact bytes as they
// appear in the file, so any edit to the payload (even whitespace) is
// detected. The payload is:
//
//	{
//	  "cluster_id": "<22-char base64url UUID>",
//	  "topics": [   // sorted by name
//	    {"name": "t", "id": "<22-char base64url UUID>", "partitions": 3,
//	     "internal": true,               // omitted when false
//	     "configs": {"retention.ms": "1000"}}   // overrides; omitted when empty
//	  ],
//	  "broker_dynamic": {"log.retention.ms": "1000"}  // cluster-wide dynamic broker configs
//	}
//
// Unknown fields, trailing data, an unknown version, a checksum mismatch or a
// broken invariant (duplicate names or IDs, zero ID, non-positive partition
// count, invalid name) make the file corrupt. A temporary file named
// meta.json.tmp (meta.json.tmp-* before the vfs seam) is the leftover of an
// interrupted write; opening the store removes it.
const (
	metaFileName  = "meta.json"
	formatVersion = 1
)

type payload struct {
	ClusterID     string            `json:"cluster_id"`
	Topics        []topicRecord     `json:"topics"`
	BrokerDynamic map[string]string `json:"broker_dynamic"`
	// GroupConfigs are the dynamic group configs (KIP-848), by group id.
	GroupConfigs map[string]map[string]string `json:"group_configs,omitempty"`
}

type topicRecord struct {
	Name       string            `json:"name"`
	ID         string            `json:"id"`
	Partitions int32             `json:"partitions"`
	Internal   bool              `json:"internal,omitempty"`
	Configs    map[string]string `json:"configs,omitempty"`
}

// state is the store's whole content.
type state struct {
	clusterID     string
	topics        map[string]Topic
	byID          map[[16]byte]string
	brokerDynamic map[string]string
	groupConfigs  map[string]map[string]string
}

func newState(clusterID string) *state {
	return &state{clusterID: clusterID, topics: map[string]Topic{}, byID: map[[16]byte]string{}, brokerDynamic: map[string]string{}, groupConfigs: map[string]map[string]string{}}
}

func (st *state) clone() *state {
	c := newState(st.clusterID)
	for n, t := range st.topics {
		c.topics[n] = t.clone()
	}
	maps.Copy(c.byID, st.byID)
	maps.Copy(c.brokerDynamic, st.brokerDynamic)
	for g, cfg := range st.groupConfigs {
		c.groupConfigs[g] = maps.Clone(cfg)
	}
	return c
}

func (st *state) add(t Topic) {
	st.topics[t.Name] = t
	st.byID[t.ID] = t.Name
}

// encodeState renders st in the file format.
func encodeState(st *state) ([]byte, error) {
	p := payload{ClusterID: st.clusterID, Topics: []topicRecord{}, BrokerDynamic: st.brokerDynamic, GroupConfigs: st.groupConfigs}
	for _, name := range slices.Sorted(maps.Keys(st.topics)) {
		t := st.topics[name]
		p.Topics = append(p.Topics, topicRecord{Name: t.Name, ID: encodeUUID(t.ID), Partitions: t.Partitions, Internal: t.Internal, Configs: t.Configs})
	}
	return envelope.Encode(formatVersion, p)
}

// decodeState parses and checks a file's content. Its errors say what is
// wrong; the caller marks them corrupt.
func decodeState(data []byte) (*state, error) {
	var p payload
	if err := envelope.Decode(data, formatVersion, &p); err != nil {
		return nil, err
	}
	if _, err := decodeUUID(p.ClusterID); err != nil {
		return nil, fmt.Errorf("cluster_id: %w", err)
	}
	st := newState(p.ClusterID)
	maps.Copy(st.brokerDynamic, p.BrokerDynamic)
	for g, cfg := range p.GroupConfigs {
		st.groupConfigs[g] = maps.Clone(cfg)
	}
	for i, r := range p.Topics {
		t, err := r.topic()
		if err != nil {
			return nil, fmt.Errorf("topics[%d]: %w", i, err)
		}
		if _, dup := st.topics[t.Name]; dup {
			return nil, fmt.Errorf("topics[%d]: duplicate topic name %q", i, t.Name)
		}
		if other, dup := st.byID[t.ID]; dup {
			return nil, fmt.Errorf("topics[%d]: topic %q has the ID of topic %q", i, t.Name, other)
		}
		st.add(t)
	}
	return st, nil
}

func (r topicRecord) topic() (Topic, error) {
	if err := ValidateTopicName(r.Name); err != nil {
		return Topic{}, err
	}
	id, err := decodeUUID(r.ID)
	if err != nil || id == ([16]byte{}) {
		return Topic{}, fmt.Errorf("topic %q: bad id %q", r.Name, r.ID)
	}
	if r.Partitions < 1 {
		return Topic{}, fmt.Errorf("topic %q: bad partition count %d", r.Name, r.Partitions)
	}
	t := Topic{Name: r.Name, ID: id, Partitions: r.Partitions, Configs: r.Configs, Internal: r.Internal}
	return t.clone(), nil
}
