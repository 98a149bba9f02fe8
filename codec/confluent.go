package codec

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// Confluent's wire format frames a schema-registry payload as the magic byte
// 0, the schema id as a 4-byte big-endian integer, for Protobuf the
// message-index array, then the payload. The message-index array is the path
// of the message type in its .proto file (the top-level message index, then
// nested indexes), written as zig-zag varints: a single 0 byte for the path
// [0] (the first top-level message, the common case), otherwise the path's
// length followed by its indexes.
const (
	// MagicByte is the first byte of a Confluent-framed payload.
	MagicByte byte = 0
	// HeaderSize is the size of the magic byte and schema id.
	HeaderSize = 5
	// MaxMessageIndexes bounds the length of a message-index array that
	// ParseProtobufHeader accepts (the nesting depth of a message type).
	MaxMessageIndexes = 100
)

// Errors of the Confluent framing.
var (
	// ErrShortHeader: fewer than HeaderSize bytes.
	ErrShortHeader = errors.New("codec: confluent header: shorter than 5 bytes")
	// ErrBadMagic: the first byte is not MagicByte.
	ErrBadMagic = errors.New("codec: confluent header: unknown magic byte")
	// ErrBadMessageIndexes: a malformed, truncated, negative or too long
	// Protobuf message-index array.
	ErrBadMessageIndexes = errors.New("codec: confluent header: malformed protobuf message indexes")
)

// AppendHeader appends the Confluent header for schema id (magic byte 0 and
// the id big-endian) to dst. Avro and JSON Schema payloads follow it
// directly; Protobuf payloads use AppendProtobufHeader.
func AppendHeader(dst []byte, id uint32) []byte {
	return binary.BigEndian.AppendUint32(append(dst, MagicByte), id)
}

// AppendProtobufHeader appends the Confluent header for schema id followed by
// the message-index array of the message path indexes: a single 0 byte for
// [0] (or an empty path), otherwise the count and the indexes as zig-zag
// varints. Indexes must not be negative; a negative index is written as
// given (zig-zag) and rejected by ParseProtobufHeader.
func AppendProtobufHeader(dst []byte, id uint32, indexes []int) []byte {
	dst = AppendHeader(dst, id)
	if len(indexes) == 0 || (len(indexes) == 1 && indexes[0] == 0) {
		return append(dst, 0)
	}
	dst = binary.AppendVarint(dst, int64(len(indexes)))
	for _, i := range indexes {
		dst = binary.AppendVarint(dst, int64(i))
	}
	return dst
}

// ParseHeader splits a Confluent-framed Avro or JSON Schema payload into its
// schema id and the payload (which aliases b).
func ParseHeader(b []byte) (id uint32, payload []byte, err error) {
	if len(b) < HeaderSize {
		return 0, nil, fmt.Errorf("%w (%d bytes)", ErrShortHeader, len(b))
	}
	if b[0] != MagicByte {
		return 0, nil, fmt.Errorf("%w %d", ErrBadMagic, b[0])
	}
	return binary.BigEndian.Uint32(b[1:5]), b[5:], nil
}

// ParseProtobufHeader splits a Confluent-framed Protobuf payload into its
// schema id, message path and the payload (which aliases b). A count of 0
// means the path [0]. The path may hold at most MaxMessageIndexes indexes,
// each a varint of at most 5 bytes with a value in [0, 2^31).
func ParseProtobufHeader(b []byte) (id uint32, indexes []int, payload []byte, err error) {
	id, rest, err := ParseHeader(b)
	if err != nil {
		return 0, nil, nil, err
	}
	n, rest, err := readIndex(rest)
	if err != nil {
		return 0, nil, nil, fmt.Errorf("%w: count: %w", ErrBadMessageIndexes, err)
	}
	if n == 0 {
		return id, []int{0}, rest, nil
	}
	if n > MaxMessageIndexes {
		return 0, nil, nil, fmt.Errorf("%w: %d indexes, at most %d allowed", ErrBadMessageIndexes, n, MaxMessageIndexes)
	}
	if n > len(rest) { // each index takes at least one byte
		return 0, nil, nil, fmt.Errorf("%w: %d indexes but %d bytes left", ErrBadMessageIndexes, n, len(rest))
	}
	indexes = make([]int, n)
	for i := range indexes {
		if indexes[i], rest, err = readIndex(rest); err != nil {
			return 0, nil, nil, fmt.Errorf("%w: index %d: %w", ErrBadMessageIndexes, i, err)
		}
	}
	return id, indexes, rest, nil
}

// readIndex reads one zig-zag varint holding a Java int that must not be
// negative.
func readIndex(b []byte) (int, []byte, error) {
	v, n := binary.Varint(b)
	switch {
	case n == 0:
		return 0, nil, errors.New("truncated varint")
	case n < 0 || n > binary.MaxVarintLen32:
		return 0, nil, errors.New("varint longer than 5 bytes")
	case v < 0:
		return 0, nil, fmt.Errorf("negative value %d", v)
	case v > 1<<31-1:
		return 0, nil, fmt.Errorf("value %d overflows an int32", v)
	}
	return int(v), b[n:], nil
}
