package client

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Queue consumes topics through a share group (KIP-932, Kafka 4.2's
// queues): every consumer of the group gets records of any partition, each
// record is delivered to one consumer at a time under a time-limited lock
// (the group's share.record.lock.duration.ms), and is acknowledged one by
// one: Accept (done), Release (deliver it again, to any consumer) or Reject
// (never deliver it again). A record not acknowledged in time is delivered
// again, up to the broker's group.share.delivery.count.limit deliveries.
//
// As in franz-go, a message the application has not acknowledged when it
// calls Next again is accepted then, and Close releases the messages still
// unacknowledged. Acknowledgements are sent with the next fetch or by
// Flush, which waits until the broker has answered them.
type Queue struct {
	cl *kgo.Client

	mu     sync.Mutex
	ackErr error // the first acknowledgement the broker refused
}

// QueueMessage is a record delivered by a Queue, to be acknowledged.
type QueueMessage struct {
	Record
	rec *kgo.Record
}

// Accept acknowledges the message as processed.
func (m *QueueMessage) Accept() { m.rec.Ack(kgo.AckAccept) }

// Release hands the message back for another delivery.
func (m *QueueMessage) Release() { m.rec.Ack(kgo.AckRelease) }

// Reject marks the message as unprocessable: it is never delivered again.
func (m *QueueMessage) Reject() { m.rec.Ack(kgo.AckReject) }

// Queue joins share group group reading topics. New share groups start
// at the end of the topics (the group config share.auto.offset.reset,
// "latest" by default; set it to "earliest" with Admin to read what is
// already there).
func (c *Client) Queue(group string, topics ...string) (*Queue, error) {
	if group == "" {
		return nil, errors.New("client: queue needs a share group")
	}
	if len(topics) == 0 {
		return nil, errors.New("client: queue needs a topic")
	}
	q := &Queue{}
	cl, err := c.kgoClient(kgo.ConsumeTopics(topics...), kgo.ShareGroup(group),
		kgo.ShareAckCallback(func(_ *kgo.Client, rs kgo.ShareAckResults) {
			if err := rs.Error(); err != nil {
				q.mu.Lock()
				if q.ackErr == nil {
					q.ackErr = err
				}
				q.mu.Unlock()
			}
		}))
	if err != nil {
		return nil, err
	}
	q.cl = cl
	return q, nil
}

// Next waits for the next messages (up to the broker's and client's batch
// size) until ctx is done. Messages of the previous call that were not
// acknowledged are accepted first.
func (q *Queue) Next(ctx context.Context) ([]*QueueMessage, error) {
	for {
		fs := q.cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if errs := fs.Errors(); len(errs) > 0 {
			e := errs[0]
			if errors.Is(e.Err, context.Canceled) || errors.Is(e.Err, context.DeadlineExceeded) {
				return nil, e.Err
			}
			return nil, fmt.Errorf("client: fetching %s[%d]: %w", e.Topic, e.Partition, e.Err)
		}
		recs := fs.Records()
		if len(recs) == 0 {
			continue
		}
		out := make([]*QueueMessage, len(recs))
		for i, r := range recs {
			out[i] = &QueueMessage{Record: fromKgo(r), rec: r}
		}
		return out, nil
	}
}

// Flush sends the acknowledgements made so far and waits for the broker's
// answers; it returns the first acknowledgement the broker refused since
// the queue was created (for instance one made after the record's lock
// expired).
func (q *Queue) Flush(ctx context.Context) error {
	if err := q.cl.FlushAcks(ctx); err != nil {
		return fmt.Errorf("client: flushing acknowledgements: %w", err)
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.ackErr != nil {
		return fmt.Errorf("client: acknowledgement refused: %w", q.ackErr)
	}
	return nil
}

// Close leaves the share group; unacknowledged messages are released.
func (q *Queue) Close() { q.cl.Close() }

// SetGroupConfigs sets (or, with an empty value, removes) a group's own
// configs (KIP-848/KIP-932 group configs such as share.auto.offset.reset,
// share.record.lock.duration.ms, share.isolation.level).
func (a *Admin) SetGroupConfigs(ctx context.Context, group string, set map[string]string) error {
	req := kmsg.NewPtrIncrementalAlterConfigsRequest()
	res := kmsg.NewIncrementalAlterConfigsRequestResource()
	res.ResourceType, res.ResourceName = kmsg.ConfigResourceTypeGroupConfig, group
	for _, k := range slices.Sorted(maps.Keys(set)) {
		c := kmsg.NewIncrementalAlterConfigsRequestResourceConfig()
		c.Name = k
		if v := set[k]; v == "" {
			c.Op = kmsg.IncrementalAlterConfigOpDelete
		} else {
			c.Op, c.Value = kmsg.IncrementalAlterConfigOpSet, kmsg.StringPtr(v)
		}
		res.Configs = append(res.Configs, c)
	}
	req.Resources = append(req.Resources, res)
	resp, err := req.RequestWith(ctx, a.cl)
	if err != nil {
		return fmt.Errorf("client: %w", err)
	}
	for _, r := range resp.Resources {
		if err := kerr.ErrorForCode(r.ErrorCode); err != nil {
			msg := ""
			if r.ErrorMessage != nil {
				msg = *r.ErrorMessage
			}
			return fmt.Errorf("client: setting configs of group %s: %w: %s", group, err, msg)
		}
	}
	return nil
}
