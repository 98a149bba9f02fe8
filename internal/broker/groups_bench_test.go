package broker

import (
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func commitRequest(group string) *kmsg.OffsetCommitRequest {
	req := kmsg.NewPtrOffsetCommitRequest()
	req.Version, req.Group, req.MemberID, req.Generation = 8, group, "", -1
	rt := kmsg.NewOffsetCommitRequestTopic()
	rt.Topic = "bench"
	rp := kmsg.NewOffsetCommitRequestTopicPartition()
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	return req
}

// reportCPU reports the process CPU time per operation and what 1,000
// operations a second would cost, in percent of one core.
func reportCPU(b *testing.B, cpu time.Duration) {
	per := float64(cpu.Nanoseconds()) / float64(b.N)
	b.ReportMetric(per, "cpu-ns/commit")
	b.ReportMetric(per*1000/1e9*100, "%core@1000/s")
}

// BenchmarkOffsetCommitOverTheWire is one single-partition OffsetCommit
// round trip through a real broker (TCP, decoding, the coordinator, the
// append to __consumer_offsets). The CPU figure is the whole process's,
// franz-go's client side included: an upper bound for the broker.
func BenchmarkOffsetCommitOverTheWire(b *testing.B) {
	tb := startBroker(b, "", nil)
	cl := newClient(b, tb.addr)
	createTopic(b, cl, "bench", 1, nil)
	req := commitRequest("bench-wire")
	ctx := ctxT(b)
	b.ReportAllocs()
	start := cpuTime()
	i := int64(0)
	for b.Loop() {
		i++
		req.Topics[0].Partitions[0].Offset = i
		resp, err := req.RequestWith(ctx, cl)
		if err != nil || resp.Topics[0].Partitions[0].ErrorCode != 0 {
			b.Fatal(err, resp)
		}
	}
	reportCPU(b, cpuTime()-start)
}

// BenchmarkOffsetCommitCoordinatorAndLog is the broker's side without the
// network: the coordinator and the append to the __consumer_offsets log.
func BenchmarkOffsetCommitCoordinatorAndLog(b *testing.B) {
	tb := startBroker(b, "", nil)
	cl := newClient(b, tb.addr)
	createTopic(b, cl, "bench", 1, nil)
	req := commitRequest("bench-direct")
	b.ReportAllocs()
	start := cpuTime()
	i := int64(0)
	for b.Loop() {
		i++
		req.Topics[0].Partitions[0].Offset = i
		var resp *kmsg.OffsetCommitResponse
		tb.groups.OffsetCommit(req, func(r *kmsg.OffsetCommitResponse) { resp = r }) // answered before it returns: the append runs in this goroutine
		if resp == nil || resp.Topics[0].Partitions[0].ErrorCode != 0 {
			b.Fatal(resp)
		}
	}
	reportCPU(b, cpuTime()-start)
}
