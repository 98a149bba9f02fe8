package codec

import (
	"context"
	"math/big"
	"testing"
	"time"
)

type benchRecord struct {
	ID       int64             `avro:"id"`
	Customer string            `avro:"customer"`
	Email    *string           `avro:"email"`
	Placed   time.Time         `avro:"placed"`
	Amount   *big.Rat          `avro:"amount,decimal(12,2)"`
	Ref      [16]byte          `avro:"ref,uuid"`
	Lines    []benchLine       `avro:"lines"`
	Attrs    map[string]string `avro:"attrs"`
}

type benchLine struct {
	SKU   string  `avro:"sku"`
	Qty   int32   `avro:"qty"`
	Price float64 `avro:"price"`
}

func benchValue() benchRecord {
	email := "ada@example.com"
	v := benchRecord{ID: 123456789, Customer: "Ada Lovelace", Email: &email, Placed: time.UnixMilli(1_700_000_000_123).UTC(),
		Amount: big.NewRat(1234567, 100), Ref: [16]byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16},
		Attrs: map[string]string{"channel": "web", "region": "eu-central"}}
	for i := range 8 {
		v.Lines = append(v.Lines, benchLine{SKU: "SKU-000" + string(rune('0'+i)), Qty: int32(i + 1), Price: 9.99 * float64(i+1)})
	}
	return v
}

// BenchmarkAvro compares encoding and decoding through a Serde (Confluent
// framing, cached schema id and reader) with github.com/twmb/avro alone;
// the target is a Serde overhead of at most 10%. MB/s counts the
// Avro payload bytes in both.
func BenchmarkAvro(b *testing.B) {
	ctx := context.Background()
	c, err := Avro[benchRecord]("")
	if err != nil {
		b.Fatal(err)
	}
	s := mustSerde(b, c, newMemRegistry())
	v := benchValue()
	framed, err := s.Encode(ctx, "bench", v)
	if err != nil {
		b.Fatal(err)
	}
	payload := framed[HeaderSize:]
	schema := c.AvroSchema()

	b.Run("encode/plain", func(b *testing.B) {
		b.SetBytes(int64(len(payload)))
		b.ReportAllocs()
		buf := make([]byte, 0, 1024)
		for b.Loop() {
			var err error
			if buf, err = schema.AppendEncode(buf[:0], &v); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("encode/serde", func(b *testing.B) {
		b.SetBytes(int64(len(payload)))
		b.ReportAllocs()
		buf := make([]byte, 0, 1024)
		for b.Loop() {
			var err error
			if buf, err = s.AppendEncode(ctx, buf[:0], "bench", v); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("decode/plain", func(b *testing.B) {
		b.SetBytes(int64(len(payload)))
		b.ReportAllocs()
		for b.Loop() {
			var out benchRecord
			if _, err := schema.Decode(payload, &out); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("decode/serde", func(b *testing.B) {
		b.SetBytes(int64(len(payload)))
		b.ReportAllocs()
		for b.Loop() {
			if _, err := s.Decode(ctx, framed); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// nopCodec is a SchemaCodec that does no work, to measure what a Serde
// itself adds: framing, the id and reader caches.
type nopCodec struct{}

func (nopCodec) Encode(v int) ([]byte, error)                   { return nil, nil }
func (nopCodec) AppendEncode(dst []byte, v int) ([]byte, error) { return dst, nil }
func (nopCodec) Decode(b []byte) (int, error)                   { return 0, nil }
func (nopCodec) Schema() (Schema, error)                        { return Schema{Type: SchemaTypeAvro, Text: `"int"`}, nil }
func (nopCodec) ReaderFor(Schema, []NamedSchema) (func([]byte, []int) (int, error), error) {
	return func([]byte, []int) (int, error) { return 0, nil }, nil
}

// BenchmarkSerdeOverhead measures the Serde's own cost per record (with a
// codec that does nothing): compare it with BenchmarkAvro's plain ns/op for
// the overhead ratio, which the machine's noise hides in BenchmarkAvro.
func BenchmarkSerdeOverhead(b *testing.B) {
	ctx := context.Background()
	s := mustSerde[int](b, nopCodec{}, newMemRegistry())
	framed, err := s.Encode(ctx, "bench", 1)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("encode", func(b *testing.B) {
		b.ReportAllocs()
		buf := make([]byte, 0, 64)
		for b.Loop() {
			buf, _ = s.AppendEncode(ctx, buf[:0], "bench", 1)
		}
	})
	b.Run("decode", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := s.Decode(ctx, framed); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("decode-parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := s.Decode(ctx, framed); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}
