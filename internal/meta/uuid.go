package meta

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"
)

// metadataTopicID is Kafka's reserved Uuid(0, 1) for the __cluster_metadata topic.
var metadataTopicID = [16]byte{15: 1}

// newUUID returns random version-4 UUID bytes as Kafka's Uuid.randomUuid
// would: never zero, never the reserved metadata topic ID, and never one
// whose base64 form starts with '-' (which command-line tools take for a flag).
func newUUID() [16]byte {
	for {
		var id [16]byte
		_, _ = rand.Read(id[:]) // never fails (crypto/rand, Go 1.24+)
		id[6] = id[6]&0x0f | 0x40
		id[8] = id[8]&0x3f | 0x80
		if id != ([16]byte{}) && id != metadataTopicID && encodeUUID(id)[0] != '-' {
			return id
		}
	}
}

// encodeUUID renders id as Kafka does: URL-safe base64 without padding (22 chars).
func encodeUUID(id [16]byte) string { return base64.RawURLEncoding.EncodeToString(id[:]) }

// decodeUUID parses Kafka's base64 form of a UUID.
func decodeUUID(s string) ([16]byte, error) {
	var id [16]byte
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(b) != len(id) || len(s) != 22 {
		return id, fmt.Errorf("invalid UUID %q", s)
	}
	copy(id[:], b)
	return id, nil
}
