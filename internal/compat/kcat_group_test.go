package compat

import (
	"bufio"
	"context"
	"fmt"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestKcatTwoGroupMembers runs two `kcat -G` members of one group: once
// both hold their assignment, records produced to the four partitions are
// each consumed exactly once, and every partition by one member only.
func TestKcatTwoGroupMembers(t *testing.T) {
	kcat := tool(t, "kcat")
	s := startServer(t, "", "--set", "group.initial.rebalance.delay.ms=0")
	cl, err := kgo.NewClient(kgo.SeedBrokers(s.addr))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	ctx := ctxT(t, 90*time.Second)
	if _, err := adm.CreateTopic(ctx, 4, 1, nil, "kg2"); err != nil {
		t.Fatal(err)
	}

	type seen struct{ member, partition int }
	var mu sync.Mutex
	got := map[string][]seen{} // value -> who read it
	mctx, stop := context.WithCancel(ctx)
	defer stop()
	var wg sync.WaitGroup
	for m := range 2 {
		cmd := exec.CommandContext(mctx, kcat, "-b", s.addr, "-G", "two-members", "-X", "auto.offset.reset=earliest",
			"-X", "partition.assignment.strategy=range", "-u", "-f", "%p %s\n", "kg2")
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			sc := bufio.NewScanner(out)
			for sc.Scan() {
				var p int
				var v string
				if _, err := fmt.Sscanf(sc.Text(), "%d %s", &p, &v); err == nil {
					mu.Lock()
					got[v] = append(got[v], seen{m, p})
					mu.Unlock()
				}
			}
			cmd.Wait()
		}()
	}

	// Wait until the group is stable with two members that share the four
	// partitions.
	for {
		dg, err := adm.DescribeGroups(ctx, "two-members")
		if err == nil {
			g := dg["two-members"]
			assigned := 0
			for _, m := range g.Members {
				if ca, ok := m.Assigned.AsConsumer(); ok {
					for _, tp := range ca.Topics {
						assigned += len(tp.Partitions)
					}
				}
			}
			if g.State == "Stable" && len(g.Members) == 2 && assigned == 4 {
				break
			}
		}
		if ctx.Err() != nil {
			t.Fatalf("the two kcat members never formed a stable group: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}

	const n = 400
	var recs []*kgo.Record
	for i := range n {
		recs = append(recs, &kgo.Record{Topic: "kg2", Partition: int32(i % 4), Value: []byte(fmt.Sprint("v", i))})
	}
	pcl, err := kgo.NewClient(kgo.SeedBrokers(s.addr), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer pcl.Close()
	if err := pcl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	for {
		mu.Lock()
		count := len(got)
		mu.Unlock()
		if count == n {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("the two members consumed %d of %d records", count, n)
		}
		time.Sleep(20 * time.Millisecond)
	}
	stop()
	wg.Wait()
	owner := map[int]int{}
	perMember := map[int]int{}
	for v, readers := range got {
		if len(readers) != 1 {
			t.Fatalf("%s consumed %d times: %v", v, len(readers), readers)
		}
		r := readers[0]
		if o, ok := owner[r.partition]; ok && o != r.member {
			t.Fatalf("partition %d consumed by both members", r.partition)
		}
		owner[r.partition] = r.member
		perMember[r.member]++
	}
	if len(perMember) != 2 || strings.Contains(fmt.Sprint(perMember), ":0") {
		t.Fatalf("records per member %v: both members should share the partitions", perMember)
	}
}
