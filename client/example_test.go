package client_test

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/sluice-io/sluice/client"
	"github.com/sluice-io/sluice/embed"
)

// Produce three records and stream them back from the beginning, against
// an embedded broker (use your cluster's address instead).
func Example() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	b, err := embed.Start(ctx)
	if err != nil {
		log.Fatal(err)
	}
	defer b.Stop()

	c, err := client.Connect(ctx, []string{b.Addr()})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	if err := c.Admin().CreateTopic(ctx, client.TopicSpec{Name: "greetings", Partitions: 1}); err != nil {
		log.Fatal(err)
	}

	p, err := c.Producer("greetings", client.Linger(time.Millisecond))
	if err != nil {
		log.Fatal(err)
	}
	defer p.Close()
	for _, v := range []string{"hello", "hallo", "bonjour"} {
		md, err := p.Send(ctx, []byte("k"), []byte(v))
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println("sent", v, "at offset", md.Offset)
	}

	cons, err := c.Consumer("greetings")
	if err != nil {
		log.Fatal(err)
	}
	n := 0
	for rec, err := range cons.Stream(ctx, client.Beginning()) {
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(rec.Offset, rec.KeyString(), rec.ValueString())
		if n++; n == 3 {
			break
		}
	}
	// Output:
	// sent hello at offset 0
	// sent hallo at offset 1
	// sent bonjour at offset 2
	// 0 k hello
	// 1 k hallo
	// 2 k bonjour
}

// The last two records of a topic, delivered on a channel.
func ExampleConsumer_Channel() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	b, err := embed.Start(ctx)
	if err != nil {
		log.Fatal(err)
	}
	defer b.Stop()
	c, err := client.Connect(ctx, []string{b.Addr()})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	c.Admin().CreateTopic(ctx, client.TopicSpec{Name: "events", Partitions: 1})
	p, _ := c.Producer("events")
	defer p.Close()
	for i := range 5 {
		p.SendAsync(ctx, nil, fmt.Appendf(nil, "event-%d", i), nil)
	}
	if err := p.Flush(ctx); err != nil {
		log.Fatal(err)
	}

	cons, _ := c.Consumer("events")
	streamCtx, stop := context.WithCancel(ctx)
	records, _ := cons.Channel(streamCtx, client.FromEnd(2))
	for range 2 {
		rec := <-records
		fmt.Println(rec.ValueString())
	}
	stop()
	// Output:
	// event-3
	// event-4
}
