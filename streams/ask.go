package streams

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluice-io/sluice/codec"
)

// Headers of a request sent by Ask (Faust's reply_to and correlation_id).
const (
	HeaderReplyTo       = "streams.reply-to"
	HeaderCorrelationID = "streams.correlation-id"
)

// ErrNoReply is returned by Ask when no reply came in time.
var ErrNoReply = errors.New("streams: no reply")

// DefaultAskTimeout bounds an Ask whose context has no earlier deadline.
const DefaultAskTimeout = 30 * time.Second

// ReplyTopic is a topic of replies to Ask, with values of type R: the
// agent's function answers a request with Reply, and Ask waits for the
// reply carrying its correlation id. Every process that asks reads the
// whole topic from its end, so one reply topic serves an app's askers.
type ReplyTopic[R any] struct {
	app   *App
	topic *Topic[string, R]
}

// NewReplyTopic declares the reply topic name (an Internal topic: Run, or
// the first Ask, creates it) whose values codec encodes.
func NewReplyTopic[R any](app *App, name string, value codec.Codec[R], opts ...TopicOption) *ReplyTopic[R] {
	return &ReplyTopic[R]{app: app, topic: NewTopic(app, name, codec.String(), value, append(opts, Internal())...)}
}

// Name returns the topic's name.
func (rt *ReplyTopic[R]) Name() string { return rt.topic.Name() }

// Reply answers the request ev with value: it sends value to the request's
// reply topic with its correlation id. From an agent's ctx the reply is
// one of the batch's effects (under ExactlyOnce the asker sees it once the
// batch commits). An event that is not a request (sent with Send or Cast)
// gets no reply: Reply returns nil.
func (rt *ReplyTopic[R]) Reply(ctx context.Context, ev Request, value R) error {
	var to, corr []byte
	for _, h := range ev.requestHeaders() {
		switch h.Key {
		case HeaderReplyTo:
			to = h.Value
		case HeaderCorrelationID:
			corr = h.Value
		}
	}
	if to == nil || corr == nil {
		return nil
	}
	vb, err := rt.topic.value.Encode(value)
	if err != nil {
		return fmt.Errorf("streams: reply: %w", err)
	}
	r := &kgo.Record{Topic: string(to), Key: corr, Value: vb, Headers: []kgo.RecordHeader{{Key: HeaderCorrelationID, Value: corr}}}
	return rt.app.send(ctx, r)
}

// Request is an Event of any key and value types, as Reply takes it.
type Request interface{ requestHeaders() []Header }

func (ev Event[K, V]) requestHeaders() []Header { return ev.Headers }

// Ask sends key and value to agent ag as a request and waits for its reply
// on rt (Faust's agent.ask): until ctx is done or DefaultAskTimeout, then
// it returns ErrNoReply. The request is sent at once, outside any batch,
// even from an agent. Under a Driver, Ask processes the request itself
// (Driver.Process) and fails with ErrNoReply when no reply was sent.
func Ask[K, V, R any](ctx context.Context, ag *Agent[K, V], rt *ReplyTopic[R], key K, value V, headers ...Header) (R, error) {
	var zero R
	a := ag.app
	t, ok := ag.src.(*Topic[K, V])
	if !ok {
		return zero, fmt.Errorf("streams: Ask %s: the agent reads an in-memory channel; only topic agents reply", ag.Name())
	}
	var id [16]byte
	rand.Read(id[:])
	corr := hex.EncodeToString(id[:])
	headers = append(headers[:len(headers):len(headers)],
		Header{Key: HeaderReplyTo, Value: []byte(rt.Name())},
		Header{Key: HeaderCorrelationID, Value: []byte(corr)})
	r, err := t.record(key, value, headers)
	if err != nil {
		return zero, err
	}
	decode := func(r *kgo.Record) (R, error) {
		v, err := rt.topic.value.Decode(r.Value)
		if err != nil {
			return zero, fmt.Errorf("streams: reply to %s: %w", ag.Name(), err)
		}
		return v, nil
	}

	if a.mem != nil {
		if err := a.mem.produceSync(r); err != nil {
			return zero, err
		}
		if err := a.driver.Process(); err != nil {
			return zero, err
		}
		reps, err := a.mem.records(rt.Name())
		if err != nil {
			return zero, err
		}
		for _, rep := range reps {
			if string(rep.Key) == corr {
				return decode(rep)
			}
		}
		return zero, fmt.Errorf("%w from agent %s", ErrNoReply, ag.Name())
	}

	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, DefaultAskTimeout)
		defer cancel()
	}
	hub, err := a.replyHub(ctx, rt.Name())
	if err != nil {
		return zero, err
	}
	wait := hub.expect(corr)
	defer hub.forget(corr)
	cl, err := a.outsideProducer()
	if err != nil {
		return zero, err
	}
	if err := cl.ProduceSync(ctx, r).FirstErr(); err != nil {
		return zero, fmt.Errorf("streams: Ask %s: %w", ag.Name(), err)
	}
	select {
	case rep := <-wait:
		return decode(rep)
	case <-ctx.Done():
		return zero, fmt.Errorf("%w from agent %s: %w", ErrNoReply, ag.Name(), ctx.Err())
	}
}

// Cast sends key and value to the agent without waiting for a reply
// (Faust's agent.cast); it is Send.
func (a *Agent[K, V]) Cast(ctx context.Context, key K, value V, headers ...Header) error {
	return a.Send(ctx, key, value, headers...)
}

// replyHub reads one reply topic from its end and hands each reply to the
// Ask waiting for its correlation id.
type replyHub struct {
	mu      sync.Mutex
	waiting map[string]chan *kgo.Record
	cl      *kgo.Client
	done    chan struct{}
}

func (h *replyHub) expect(corr string) <-chan *kgo.Record {
	ch := make(chan *kgo.Record, 1)
	h.mu.Lock()
	h.waiting[corr] = ch
	h.mu.Unlock()
	return ch
}

func (h *replyHub) forget(corr string) {
	h.mu.Lock()
	delete(h.waiting, corr)
	h.mu.Unlock()
}

// replyHub returns the running reader of reply topic name, starting it
// (and creating the topic when missing) on first use. The reader starts at
// the end offsets it lists first, so no reply to a later request is
// missed.
func (a *App) replyHub(ctx context.Context, name string) (*replyHub, error) {
	a.replyMu.Lock()
	defer a.replyMu.Unlock()
	if h := a.hubs[name]; h != nil {
		return h, nil
	}
	opts := append([]kgo.Opt{kgo.SeedBrokers(a.cfg.brokers...)}, a.cfg.kopts...)
	acl, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, fmt.Errorf("streams: reply reader: %w", err)
	}
	adm := kafkaAdmin{kadm.NewClient(acl)}
	n, err := adm.partitionCount(ctx, name)
	if err == nil && n == 0 {
		a.mu.Lock()
		spec := a.topics[name]
		a.mu.Unlock()
		if spec == nil {
			spec = &topicSpec{name: name}
		}
		parts := spec.partitions
		if parts == 0 {
			parts = a.cfg.partitions
		}
		repl := spec.replication
		if repl == 0 {
			repl = a.cfg.replication
		}
		if _, err = adm.createTopic(ctx, spec, parts, repl); err == nil {
			_, err = waitPartitions(ctx, adm, name)
		}
	}
	var ends kadm.ListedOffsets
	if err == nil {
		ends, err = adm.adm.ListEndOffsets(ctx, name)
		if err == nil {
			err = ends.Error()
		}
	}
	acl.Close()
	if err != nil {
		return nil, fmt.Errorf("streams: reply topic %s: %w", name, err)
	}
	at := map[int32]kgo.Offset{}
	ends.Each(func(o kadm.ListedOffset) { at[o.Partition] = kgo.NewOffset().At(o.Offset) })
	ropts := append(opts, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{name: at}))
	if a.cfg.guarantee == ExactlyOnce {
		ropts = append(ropts, kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	}
	cl, err := kgo.NewClient(ropts...)
	if err != nil {
		return nil, fmt.Errorf("streams: reply reader: %w", err)
	}
	h := &replyHub{waiting: map[string]chan *kgo.Record{}, cl: cl, done: make(chan struct{})}
	go h.run()
	if a.hubs == nil {
		a.hubs = map[string]*replyHub{}
	}
	a.hubs[name] = h
	return h, nil
}

func (h *replyHub) run() {
	defer close(h.done)
	for {
		fs := h.cl.PollFetches(context.Background())
		if fs.IsClientClosed() {
			return
		}
		fs.EachRecord(func(r *kgo.Record) {
			h.mu.Lock()
			ch := h.waiting[string(r.Key)]
			delete(h.waiting, string(r.Key))
			h.mu.Unlock()
			if ch != nil {
				ch <- r
			}
		})
	}
}

func (h *replyHub) close() {
	h.cl.Close()
	<-h.done
}
