package client

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/sluice-io/sluice/embed"
)

func connect(t *testing.T) (*Client, context.Context) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	c, err := Connect(ctx, []string{embed.ForTest(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c, ctx
}

func TestOptionsAreValidated(t *testing.T) {
	if _, err := Connect(context.Background(), nil); !errors.Is(err, ErrNoSeeds) {
		t.Fatalf("no seeds: %v", err)
	}
	c, _ := connect(t)
	for name, opt := range map[string]ProducerOption{
		"tiny batch":      BatchSize(10),
		"negative linger": Linger(-time.Second),
		"bad codec":       WithCompression(9),
		"bad partitioner": WithPartitioner(7),
	} {
		if _, err := c.Producer("t", opt); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestStartOffsets(t *testing.T) {
	c, ctx := connect(t)
	if err := c.Admin().CreateTopic(ctx, TopicSpec{Name: "offs", Partitions: 1}); err != nil {
		t.Fatal(err)
	}
	p, err := c.Producer("offs", Linger(0), WithCompression(Zstd))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	for i := range 10 {
		if _, err := p.Send(ctx, nil, []byte(fmt.Sprint(i)), Header{Key: "i", Value: []byte(fmt.Sprint(i))}); err != nil {
			t.Fatal(err)
		}
	}
	cons, _ := c.Consumer("offs", Partitions(0))
	first := func(off Offset) Record {
		for rec, err := range cons.Stream(ctx, off) {
			if err != nil {
				t.Fatal(err)
			}
			return rec
		}
		t.Fatal("stream ended")
		return Record{}
	}
	for name, tc := range map[string]struct {
		off  Offset
		want int64
	}{
		"beginning":         {Beginning(), 0},
		"absolute":          {Absolute(4), 4},
		"from beginning 3":  {FromBeginning(3), 3},
		"from end 2":        {FromEnd(2), 8},
		"from end past all": {FromEnd(100), 0},
	} {
		if r := first(tc.off); r.Offset != tc.want || r.ValueString() != fmt.Sprint(tc.want) || string(r.Headers[0].Value) != fmt.Sprint(tc.want) {
			t.Errorf("%s: first record %d %q, want offset %d", name, r.Offset, r.Value, tc.want)
		}
	}
}

func TestSipHashPartitionerIsStable(t *testing.T) {
	c, ctx := connect(t)
	if err := c.Admin().CreateTopic(ctx, TopicSpec{Name: "keys", Partitions: 4}); err != nil {
		t.Fatal(err)
	}
	p, _ := c.Producer("keys", Linger(0))
	defer p.Close()
	seen := map[string]int32{}
	for i := range 40 {
		key := fmt.Sprint("key-", i%5)
		md, err := p.Send(ctx, []byte(key), []byte("v"))
		if err != nil {
			t.Fatal(err)
		}
		if prev, ok := seen[key]; ok && prev != md.Partition {
			t.Fatalf("key %s went to partitions %d and %d", key, prev, md.Partition)
		}
		seen[key] = md.Partition
		if want := int32(siphashKey([]byte(key)) % 4); md.Partition != want {
			t.Fatalf("key %s in partition %d, SipHash says %d", key, md.Partition, want)
		}
	}
}

func TestAdminTopicsAndConfigs(t *testing.T) {
	c, ctx := connect(t)
	a := c.Admin()
	if err := a.CreateTopic(ctx, TopicSpec{Name: "adm", Partitions: 3, Configs: map[string]string{"retention.ms": "1000"}}); err != nil {
		t.Fatal(err)
	}
	if err := a.CreateTopic(ctx, TopicSpec{Name: "adm"}); err == nil {
		t.Fatal("creating an existing topic succeeded")
	}
	info, err := a.DescribeTopic(ctx, "adm")
	if err != nil || info.Partitions != 3 {
		t.Fatalf("describe: %+v %v", info, err)
	}
	if err := a.SetTopicConfigs(ctx, "adm", map[string]string{"segment.ms": "60000", "retention.ms": ""}); err != nil {
		t.Fatal(err)
	}
	cfg, err := a.TopicConfigs(ctx, "adm")
	if err != nil || cfg["segment.ms"] != "60000" || cfg["retention.ms"] != "" {
		t.Fatalf("configs %v %v", cfg, err)
	}
	if err := a.DeleteTopic(ctx, "adm"); err != nil {
		t.Fatal(err)
	}
	if info, err := a.DescribeTopic(ctx, "adm"); err == nil {
		t.Fatalf("deleted topic still described: %+v", info)
	}
}
