package broker

// Client quota enforcement (internal/quota holds the store and the rates),
// as Kafka's ClientQuotaManagers do it since KIP-219:
//
// * Produce: the request's bytes count against producer_byte_rate once the
//   handler has appended them.
// * Fetch: the response's record bytes count against consumer_byte_rate.
//   Unlike Kafka, which answers a fetch that would be throttled with an
//   empty response, the records are returned; the connection is muted.
// * Every API except ApiVersions, SaslHandshake and SaslAuthenticate: the
//   handler's time counts against request_percentage (percent of one core
//   over the window).
// * controller_mutation_rate is stored and described but not enforced.
//
// The throttle time (the largest of the quotas that apply) goes in the
// response's throttle_time_ms, the response is sent at once, and then the
// connection is muted: its next request is not read until the throttle
// time has passed (acks=0 produce: muted without a response). With no
// quota set anywhere, a request pays one atomic load.

import (
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice-io/sluice/internal/cluster"
	"github.com/sluice-io/sluice/internal/quota"
)

func (b *Broker) openQuotas() error {
	var store *quota.Store
	if b.cfg.Cluster.Enabled() {
		// In etcd, loaded by openCluster (clustershared.go).
		store = quota.NewShared(clusterDoc{b, cluster.SharedQuotas})
	} else {
		var err error
		if store, err = quota.Open(b.cfg.FS, b.cfg.DataDir); err != nil {
			return err
		}
	}
	b.quotas = quota.NewManager(store, b.cfg.Now,
		int(b.brokerInt("quota.window.num")),
		time.Duration(b.brokerInt("quota.window.size.seconds"))*time.Second)
	return nil
}

// quotasActive is the hot-path check: is any quota set at all?
func (b *Broker) quotasActive() bool { return b.quotas != nil && b.quotas.Store().Active() }

// quotaThrottle records a served request against the quotas of its
// principal and client id, sets the throttle time in resp (which may be
// nil: acks=0) and returns it.
func (b *Broker) quotaThrottle(r *request, reqBytes int, resp kmsg.Response, handlerTime time.Duration) time.Duration {
	user := r.c.subj.Principal.Name
	var throttle time.Duration
	switch r.key {
	case 0:
		throttle = b.quotas.Record(quota.Produce, user, r.clientID, float64(reqBytes))
	case 1:
		throttle = b.quotas.Record(quota.Fetch, user, r.clientID, float64(fetchResponseBytes(resp)))
	}
	switch r.key {
	case 17, 18, 36: // exempt from request quotas, as in Kafka
	default:
		throttle = max(throttle, b.quotas.Record(quota.Request, user, r.clientID, handlerTime.Seconds()*100))
	}
	if throttle > 0 && b.metrics != nil {
		b.metrics.Throttled(quotaTypeName(r.key), user, r.clientID, throttle) // metrics.go
	}
	if throttle > 0 && resp != nil {
		ms := min(throttle.Milliseconds(), 1<<31-1)
		switch w := resp.(type) {
		case *splicedResponse:
			resp = w.Response
		case *pendingResponse: // a produce waiting for its flush or fsyncs (pipeline.go); ThrottleMillis is not written by the wait
			resp = w.Response
		}
		if tr, ok := resp.(kmsg.SetThrottleResponse); ok {
			tr.SetThrottle(int32(ms))
		}
	}
	return throttle
}

// fetchResponseBytes is the record bytes of a fetch response (the rest of
// the response is small next to them).
func fetchResponseBytes(resp kmsg.Response) int {
	n := 0
	switch fr := resp.(type) {
	case *splicedResponse:
		for _, rr := range fr.regions {
			n += rr.Size()
		}
	case *kmsg.FetchResponse:
		for _, t := range fr.Topics {
			for _, p := range t.Partitions {
				n += len(p.RecordBatches)
			}
		}
	}
	return n
}

// mute holds the connection for the throttle time before its next request
// is read (KIP-219); shutdown ends it early.
func (c *conn) mute(d time.Duration) {
	if d <= 0 {
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-c.b.done:
	}
}
