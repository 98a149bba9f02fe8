package registry

// The records of the _schemas topic, in the JSON Confluent's Schema Registry
// (KafkaStore) and Karapace write, so either can read a Sluice _schemas
// topic and Sluice can replay theirs. Keys (field order as Confluent writes
// them; compaction compares key bytes):
//
//	{"keytype":"SCHEMA","subject":"s","version":1,"magic":1}
//	{"keytype":"CONFIG","subject":"s","magic":0}     subject null: global
//	{"keytype":"MODE","subject":"s","magic":0}       subject null: global
//	{"keytype":"DELETE_SUBJECT","subject":"s","magic":0}
//	{"keytype":"CLEAR_SUBJECT","subject":"s","magic":0}
//	{"keytype":"NOOP","magic":0}
//
// Values: SCHEMA {"subject","version","id","schemaType" (absent for AVRO),
// "references","metadata","ruleSet","schema","deleted"}; CONFIG
// {"compatibilityLevel"}; MODE {"mode"}; DELETE_SUBJECT {"subject",
// "version"}: every version up to "version" is soft-deleted;
// CLEAR_SUBJECT {"subject"}: the subject's soft-deleted versions are gone.
// A null value (tombstone) removes the key: a hard-deleted version, a
// removed subject config or mode.

import (
	"encoding/json"
	"fmt"
)

// Key types of the _schemas records.
const (
	keySchema        = "SCHEMA"
	keyConfig        = "CONFIG"
	keyMode          = "MODE"
	keyDeleteSubject = "DELETE_SUBJECT"
	keyClearSubject  = "CLEAR_SUBJECT"
	keyNoop          = "NOOP"
)

// Record is one _schemas record; a nil Value is a tombstone.
type Record struct {
	Key, Value []byte
}

// recordKey is the union of the key shapes; marshalled through the
// per-type structs below so the bytes match Confluent's.
type recordKey struct {
	KeyType string  `json:"keytype"`
	Subject *string `json:"subject"`
	Version int     `json:"version"`
	Magic   int     `json:"magic"`
}

type schemaKeyJSON struct {
	KeyType string `json:"keytype"`
	Subject string `json:"subject"`
	Version int    `json:"version"`
	Magic   int    `json:"magic"`
}

type subjectKeyJSON struct {
	KeyType string  `json:"keytype"`
	Subject *string `json:"subject"`
	Magic   int     `json:"magic"`
}

func schemaKey(subject string, version int) []byte {
	b, _ := json.Marshal(schemaKeyJSON{keySchema, subject, version, 1})
	return b
}

// subjectKey is a CONFIG, MODE, DELETE_SUBJECT or CLEAR_SUBJECT key;
// subject "" is the global one (null).
func subjectKey(keyType, subject string) []byte {
	var s *string
	if subject != "" {
		s = &subject
	}
	b, _ := json.Marshal(subjectKeyJSON{keyType, s, 0})
	return b
}

// Reference is a schema reference: the name the schema imports and the
// subject version that answers it.
type Reference struct {
	Name    string `json:"name"`
	Subject string `json:"subject"`
	Version int    `json:"version"`
}

// schemaValue is the value of a SCHEMA record.
type schemaValue struct {
	Subject    string          `json:"subject"`
	Version    int             `json:"version"`
	ID         int             `json:"id"`
	SchemaType string          `json:"schemaType,omitempty"`
	References []Reference     `json:"references"`
	Metadata   json.RawMessage `json:"metadata,omitempty"`
	RuleSet    json.RawMessage `json:"ruleSet,omitempty"`
	Schema     string          `json:"schema"`
	Deleted    bool            `json:"deleted"`
}

type configValue struct {
	CompatibilityLevel string `json:"compatibilityLevel"`
}

type modeValue struct {
	Mode string `json:"mode"`
}

type deleteSubjectValue struct {
	Subject string `json:"subject"`
	Version int    `json:"version"`
}

type clearSubjectValue struct {
	Subject string `json:"subject"`
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("registry: marshalling %T: %v", v, err)) // only our own plain structs
	}
	return b
}
