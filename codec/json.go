package codec

import (
	"encoding/json"
	"fmt"
)

// JSON returns the codec of T as JSON with encoding/json (its struct tags
// and Marshaler/Unmarshaler methods apply). Decode rejects anything after the
// JSON value but whitespace.
func JSON[T any]() Codec[T] { return jsonCodec[T]{} }

type jsonCodec[T any] struct{}

func (jsonCodec[T]) Encode(v T) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("%w: json: %w", ErrEncode, err)
	}
	return b, nil
}

func (jsonCodec[T]) Decode(b []byte) (T, error) {
	var v T
	if err := json.Unmarshal(b, &v); err != nil {
		var zero T
		return zero, fmt.Errorf("%w: json: %w", ErrDecode, err)
	}
	return v, nil
}
