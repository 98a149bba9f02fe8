// Command avro-tutorial runs the Avro cells of the kafka-python tutorial
// Sluice started from, in Go and through the schema registry built into
// `sluice serve`:
//
//  1. Topic: create avro_topic_test (one partition) with the admin client.
//  2. Producer: encode users with the tutorial's User schema (user.avsc) in
//     Confluent's wire format; the codec.Serde registers the schema under
//     the subject avro_topic_test-value the first time and frames each
//     value with its id (magic byte 0, 4-byte id, Avro binary).
//  3. Consumer: read the topic as the group "tester" from the earliest
//     offset, decode each value with the schema its id names (fetched from
//     the registry once), print it, and commit.
//
// Where the tutorial reads user.avsc in both cells and sends bare Avro, here
// only the producer has the schema; the consumer learns it from the
// registry, as a reader in "the real world" does.
//
// Usage:
//
//	sluice serve &                       # Kafka on :9092, registry on :8081
//	go run ./examples/avro-tutorial [--brokers 127.0.0.1:9092] [--registry http://127.0.0.1:8081]
package main

import (
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/sluice-io/sluice/codec"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// userSchema is the tutorial's user.avsc.
//
//go:embed user.avsc
var userSchema string

// User is the tutorial's message; the avro tags name the schema's fields.
type User struct {
	FirstName string `avro:"first_name" json:"first_name"`
	LastName  string `avro:"last_name" json:"last_name"`
	Age       int32  `avro:"age" json:"age"`
}

// users are what the producer cell sends: the tutorial's John Doe and two
// more.
var users = []User{
	{"John", "Doe", 30},
	{"Jane", "Roe", 41},
	{"Max", "Mustermann", 52},
}

const (
	topic = "avro_topic_test"
	group = "tester"
)

func main() {
	brokers := flag.String("brokers", "127.0.0.1:9092", "Kafka bootstrap `HOST:PORT` (comma-separated)")
	registry := flag.String("registry", "http://127.0.0.1:8081", "schema registry `URL`")
	timeout := flag.Duration("timeout", 60*time.Second, "give up after this long")
	flag.Parse()
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	if err := run(ctx, os.Stdout, strings.Split(*brokers, ","), *registry); err != nil {
		fmt.Fprintln(os.Stderr, "avro-tutorial:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, out io.Writer, brokers []string, registryURL string) error {
	// The Serde: the User codec with the tutorial's schema, and the
	// registry client.
	c, err := codec.Avro[User](userSchema)
	if err != nil {
		return err
	}
	reg, err := codec.NewRegistryClient([]string{registryURL})
	if err != nil {
		return err
	}
	serde, err := codec.NewSerde(c, reg)
	if err != nil {
		return err
	}

	// Cell one: the topic.
	admin, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		return err
	}
	defer admin.Close()
	resp, err := kadm.NewClient(admin).CreateTopic(ctx, 1, -1, nil, topic)
	if err == nil {
		err = resp.Err
	}
	switch {
	case err == nil:
		fmt.Fprintf(out, "created topic %s\n", topic)
	case errors.Is(err, kerr.TopicAlreadyExists):
		fmt.Fprintf(out, "topic %s exists\n", topic)
	default:
		return fmt.Errorf("create topic %s: %w", topic, err)
	}

	// Cell two: the producer. The first Encode registers the schema (or
	// finds it registered) and caches its id.
	producer, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		return err
	}
	defer producer.Close()
	id, err := serde.SchemaID(ctx, topic)
	if err != nil {
		return fmt.Errorf("register the schema: %w", err)
	}
	fmt.Fprintf(out, "schema id %d (subject %s-value)\n", id, topic)
	last := map[int32]int64{} // partition -> offset of the last user sent there
	for _, u := range users {
		value, err := serde.Encode(ctx, topic, u)
		if err != nil {
			return fmt.Errorf("encode %+v: %w", u, err)
		}
		r, err := producer.ProduceSync(ctx, &kgo.Record{Topic: topic, Value: value}).First()
		if err != nil {
			return fmt.Errorf("produce: %w", err)
		}
		last[r.Partition] = r.Offset
		fmt.Fprintf(out, "produced offset %d: % x\n", r.Offset, value)
	}

	// Cell three: the consumer, in group "tester" from the earliest offset
	// (a later run resumes after the offsets this one commits). It reads
	// until it has seen what the producer cell sent.
	consumer, err := kgo.NewClient(kgo.SeedBrokers(brokers...),
		kgo.ConsumerGroup(group), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.DisableAutoCommit())
	if err != nil {
		return err
	}
	defer consumer.Close()
	for {
		fetches := consumer.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("consume: %w", err)
		}
		var ferr error
		fetches.EachError(func(t string, p int32, err error) { ferr = errors.Join(ferr, fmt.Errorf("fetch %s/%d: %w", t, p, err)) })
		if ferr != nil {
			return ferr
		}
		for _, r := range fetches.Records() {
			u, err := serde.Decode(ctx, r.Value)
			if err != nil {
				// For example a bare Avro record of the Python tutorial.
				fmt.Fprintf(out, "consumed offset %d: cannot decode: %v\n", r.Offset, err)
			} else {
				wid, _, _ := codec.ParseHeader(r.Value)
				j, _ := json.Marshal(u)
				fmt.Fprintf(out, "consumed offset %d (schema id %d): %s\n", r.Offset, wid, j)
			}
			if o, ok := last[r.Partition]; ok && r.Offset >= o {
				delete(last, r.Partition)
			}
		}
		if err := consumer.CommitUncommittedOffsets(ctx); err != nil {
			return fmt.Errorf("commit: %w", err)
		}
		if len(last) == 0 {
			return nil
		}
	}
}
