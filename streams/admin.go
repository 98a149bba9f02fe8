package streams

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// ensureTopics creates the app's missing topics and checks the existing
// ones against their declarations: declared partition counts, and the
// co-partitioning of changelog and repartition topics with their sources.
func (w *worker) ensureTopics(ctx context.Context) error {
	// A broker that is restarting or not up yet: keep trying, as the
	// clients themselves do once running.
	return w.retry(ctx, "checking the app's topics", func() error { return w.ensureTopicsOnce(ctx) })
}

func (w *worker) ensureTopicsOnce(ctx context.Context) error {
	a := w.app
	opts := append([]kgo.Opt{kgo.SeedBrokers(a.cfg.brokers...)}, a.cfg.kopts...)
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return fmt.Errorf("streams: admin client: %w", err)
	}
	defer cl.Close()
	return w.ensureTopicsWith(ctx, kafkaAdmin{kadm.NewClient(cl)})
}

// ensureTopicsWith creates the missing topics through adm and checks the
// others.
func (w *worker) ensureTopicsWith(ctx context.Context, adm topicAdmin) error {
	a := w.app
	names := topicOrder(a.topics)
	counts := map[string]int32{}
	for _, n := range names {
		spec := a.topics[n]
		want := spec.partitions
		if spec.copartOf != nil {
			src, ok := counts[spec.copartOf.name]
			if !ok {
				return fmt.Errorf("%w: %s is co-partitioned with %s, which has no partitions", ErrTopology, n, spec.copartOf.name)
			}
			want = src
		}
		have, err := adm.partitionCount(ctx, n)
		if err != nil {
			return err
		}
		if have == 0 {
			if want == 0 {
				want = a.cfg.partitions
			}
			repl := spec.replication
			if repl == 0 {
				repl = a.cfg.replication
			}
			if have, err = adm.createTopic(ctx, spec, want, repl); err != nil {
				return err
			}
			w.log.Info("streams: topic created", "topic", n, "partitions", want)
			if have == 0 {
				if have, err = waitPartitions(ctx, adm, n); err != nil {
					return err
				}
			}
		}
		if want != 0 && have != want {
			if spec.copartOf != nil {
				return fmt.Errorf("%w: %s has %d partitions but must be co-partitioned with %s, which has %d", ErrTopology, n, have, spec.copartOf.name, want)
			}
			return fmt.Errorf("%w: topic %s has %d partitions, declared with %d", ErrTopology, n, have, want)
		}
		counts[n] = have
	}
	return a.checkCopartitioned(counts)
}

// waitPartitions waits until a created topic shows in metadata.
func waitPartitions(ctx context.Context, adm topicAdmin, topic string) (int32, error) {
	t := time.NewTicker(50 * time.Millisecond)
	defer t.Stop()
	for {
		n, err := adm.partitionCount(ctx, topic)
		if err != nil || n > 0 {
			return n, err
		}
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-t.C:
		}
	}
}

// topicOrder lists topics so that each comes after the topic it is
// co-partitioned with (a changelog after the repartition topic after the
// source), by name otherwise.
func topicOrder(topics map[string]*topicSpec) []string {
	names := make([]string, 0, len(topics))
	for n := range topics {
		names = append(names, n)
	}
	sort.Strings(names)
	depth := func(t *topicSpec) int {
		d := 0
		for seen := map[*topicSpec]bool{}; t.copartOf != nil && !seen[t]; t = t.copartOf {
			seen[t] = true
			d++
		}
		return d
	}
	sort.SliceStable(names, func(i, j int) bool { return depth(topics[names[i]]) < depth(topics[names[j]]) })
	return names
}
