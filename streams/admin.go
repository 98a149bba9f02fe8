package streams

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
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
	adm := kadm.NewClient(cl)

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
		have, err := w.partitionCount(ctx, adm, n)
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
			resp, err := adm.CreateTopic(ctx, want, repl, spec.configs, n)
			if err == nil {
				err = resp.Err
			}
			if err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
				return fmt.Errorf("streams: creating topic %s: %w", n, err)
			}
			w.log.Info("streams: topic created", "topic", n, "partitions", want)
			have = want
			if err == nil && resp.NumPartitions > 0 {
				have = resp.NumPartitions
			} else if have, err = w.waitPartitions(ctx, adm, n); err != nil {
				return err
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
	return nil
}

func (w *worker) partitionCount(ctx context.Context, adm *kadm.Client, topic string) (int32, error) {
	md, err := adm.Metadata(ctx, topic)
	if err != nil {
		return 0, fmt.Errorf("streams: metadata of %s: %w", topic, err)
	}
	td, ok := md.Topics[topic]
	if !ok || errors.Is(td.Err, kerr.UnknownTopicOrPartition) {
		return 0, nil
	}
	if td.Err != nil {
		return 0, fmt.Errorf("streams: metadata of %s: %w", topic, td.Err)
	}
	return int32(len(td.Partitions)), nil
}

// waitPartitions waits until a created topic shows in metadata.
func (w *worker) waitPartitions(ctx context.Context, adm *kadm.Client, topic string) (int32, error) {
	t := time.NewTicker(50 * time.Millisecond)
	defer t.Stop()
	for {
		n, err := w.partitionCount(ctx, adm, topic)
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
