package streams

import (
	"context"
	"errors"
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
	backoff := 250 * time.Millisecond
	for {
		err := w.ensureTopicsOnce(ctx)
		if err == nil || errors.Is(err, ErrTopology) || ctx.Err() != nil {
			return err
		}
		// A broker that is restarting or not up yet: keep trying, as
		// the clients themselves do once running.
		w.log.Warn("streams: cannot check the app's topics yet; retrying", "err", err, "in", backoff)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 5*time.Second)
	}
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
	names := make([]string, 0, len(a.topics))
	for n := range a.topics {
		names = append(names, n)
	}
	sort.Strings(names)
	// Sources first: co-partitioned topics take their counts.
	sort.SliceStable(names, func(i, j int) bool {
		return a.topics[names[i]].copartOf == nil && a.topics[names[j]].copartOf != nil
	})
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
	return nil
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
