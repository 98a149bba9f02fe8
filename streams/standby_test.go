package streams_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluice-io/sluice/embed"
	"github.com/sluice-io/sluice/streams"
)

// TestStandbyReplicasFailover: two workers with one standby replica each;
// when one stops, the other takes its partitions over restoring only what
// its warm copies lack, not the whole changelog.
func TestStandbyReplicasFailover(t *testing.T) {
	addr := embed.ForTest(t)
	createTopic(t, addr, "words-in", 2)
	newApp := func(id string) *streams.App {
		return wordcount(t, addr, t.TempDir(), streams.AtLeastOnce, streams.InstanceID(id), streams.StandbyReplicas(1))
	}
	a, b := newApp("a"), newApp("b")
	stopA := runApp(t, a)
	runApp(t, b)
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	groupSettled(t, cl, "wc", 2, false)
	// 400 words of 200 distinct: a changelog of 400 records over 3 partitions.
	var lines []string
	for i := range 100 {
		lines = append(lines, fmt.Sprintf("w%d w%d w%d w%d", i, i+100, i, i+100))
	}
	produceLines(t, addr, "words-in", lines...)
	readCounts(t, addr, 400)
	// Both copies are warm: every changelog record was applied to a
	// standby copy on the worker that does not own its partition.
	until(t, "standby copies warm", func() error {
		if n := a.RestoreStats().Standby + b.RestoreStats().Standby; n < 400 {
			return fmt.Errorf("%d of 400 changelog records in standby copies", n)
		}
		return nil
	})
	before := b.RestoreStats().Restored
	if err := stopA(); err != nil {
		t.Fatal(err)
	}
	// More words for every partition: b restores the partitions it takes over.
	produceLines(t, addr, "words-in", strings.Join([]string{"w1", "w2", "w3", "w4", "w5", "w6", "w7", "w8", "w150", "w160"}, " "))
	got := readCounts(t, addr, 410)
	for _, w := range []string{"w1", "w150"} {
		if maxCount(got[w]) != 3 {
			t.Errorf("%s counts %v, want up to 3", w, got[w])
		}
	}
	if restored := b.RestoreStats().Restored - before; restored > 40 {
		t.Errorf("b restored %d changelog records taking over, want only the lag (< 40 of 400)", restored)
	} else {
		t.Logf("b restored %d changelog records taking over a's partitions", restored)
	}
}
