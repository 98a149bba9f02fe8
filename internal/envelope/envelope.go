// Package envelope is the on-disk wrapper of Sluice's small JSON state
// files (meta.json, credentials.json, acls.json, quotas.json): a version
// and a checksum around a JSON payload, so that a damaged or foreign file
// is refused rather than half read. Layout, one line:
//
//	{"version":<int>,"crc32c":<uint32>,"payload":<payload>}\n
//
// crc32c is the CRC-32C (Castagnoli) of the payload's exact bytes as they
// appear in the file. Decoding is strict: unknown fields and trailing data
// are errors. Writers pair Encode with vfs.WriteFileAtomic.
package envelope

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"strconv"
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Encode wraps payload, marshalled as JSON, in a version-version envelope.
func Encode(version int, payload any) ([]byte, error) {
	body, err := json.Marshal(payload)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	buf.WriteString(`{"version":` + strconv.Itoa(version) + `,"crc32c":`)
	buf.WriteString(strconv.FormatUint(uint64(crc32.Checksum(body, castagnoli)), 10))
	buf.WriteString(`,"payload":`)
	buf.Write(body)
	buf.WriteString("}\n")
	return buf.Bytes(), nil
}

type wire struct {
	Version *int            `json:"version"`
	CRC32C  *uint32         `json:"crc32c"`
	Payload json.RawMessage `json:"payload"`
}

// Decode checks data's envelope (the version must be version, the checksum
// must match) and unmarshals its payload strictly into payload. Its errors
// say what is wrong; callers mark them as corruption of their file.
func Decode(data []byte, version int, payload any) error {
	var env wire
	if err := Strict(data, &env); err != nil {
		return fmt.Errorf("bad JSON envelope: %w", err)
	}
	switch {
	case env.Version == nil:
		return errors.New(`missing "version"`)
	case *env.Version != version:
		return fmt.Errorf("unsupported format version %d (this build reads version %d)", *env.Version, version)
	case env.CRC32C == nil:
		return errors.New(`missing "crc32c"`)
	case env.Payload == nil:
		return errors.New(`missing "payload"`)
	}
	if sum := crc32.Checksum(env.Payload, castagnoli); sum != *env.CRC32C {
		return fmt.Errorf("checksum mismatch: stored crc32c %d, computed %d", *env.CRC32C, sum)
	}
	if err := Strict(env.Payload, payload); err != nil {
		return fmt.Errorf("bad JSON payload: %w", err)
	}
	return nil
}

// Strict unmarshals exactly one JSON value with no unknown fields.
func Strict(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("trailing data after the JSON value")
	}
	return nil
}

// Shared is a state file's copy kept outside the data directory and shared
// by several brokers: cluster mode keeps credentials.json, acls.json and
// quotas.json as one etcd key each, holding the file's exact bytes
// (internal/cluster, shared.go). The stores use it instead of their file
// when set.
type Shared interface {
	// Update reads the stored bytes (nil when there are none), lets next
	// compute their replacement and stores it with a compare-and-swap:
	// when another broker changed the bytes meanwhile, next runs again on
	// the newer ones. Bytes equal to cur are not written. It returns the
	// revision of the bytes now stored (a higher revision is newer). An
	// error of next is returned as is, nothing stored.
	Update(next func(cur []byte) ([]byte, error)) (rev int64, err error)
}
