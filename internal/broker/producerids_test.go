package broker

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice-io/sluice/internal/vfs"
	"github.com/sluice-io/sluice/internal/vfs/errorfs"
)

// TestSlowProducerIDPersistDoesNotBlockEndTxn: persisting a new block of
// producer ids (a write and fsync of producer_ids) happens outside the
// transaction coordinator's lock, so while it hangs an EndTxn of another
// transactional id completes. The hook blocks the first producer_ids
// write after it is armed; InitProducerId calls on fresh ids use up the
// coordinator's ids until one of them needs a new block.
func TestSlowProducerIDPersistDoesNotBlockEndTxn(t *testing.T) {
	var armed atomic.Bool
	started, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	fs := errorfs.New(vfs.Default, func(op errorfs.Op, path string) error {
		if op == errorfs.OpOpen && strings.Contains(path, producerIDsFile+vfs.TempSuffix) && armed.Load() {
			once.Do(func() { close(started) })
			<-release
		}
		return nil
	})
	tb := startBrokerWith(t, Config{FS: fs})
	var releaseOnce sync.Once
	unblock := func() { releaseOnce.Do(func() { close(release) }) }
	t.Cleanup(unblock) // before the broker stops (cleanups run last first)
	cl := newClient(t, tb.addr)
	createTopic(t, cl, "slowpid", 1, nil)

	// b has an ongoing transaction on slowpid-0.
	b := "b"
	init := kmsg.NewPtrInitProducerIDRequest()
	init.TransactionalID, init.TransactionTimeoutMillis = &b, 60000
	ir := send[*kmsg.InitProducerIDResponse](t, cl, init)
	if ir.ErrorCode != 0 {
		t.Fatalf("init b: error %d", ir.ErrorCode)
	}
	add := kmsg.NewPtrAddPartitionsToTxnRequest()
	add.TransactionalID, add.ProducerID, add.ProducerEpoch = b, ir.ProducerID, ir.ProducerEpoch
	at := kmsg.NewAddPartitionsToTxnRequestTopic()
	at.Topic, at.Partitions = "slowpid", []int32{0}
	add.Topics = append(add.Topics, at)
	if r := send[*kmsg.AddPartitionsToTxnResponse](t, cl, add); r.Topics[0].Partitions[0].ErrorCode != 0 {
		t.Fatalf("add partitions: error %d", r.Topics[0].Partitions[0].ErrorCode)
	}

	// Fresh transactional ids until one needs a new block: its persist hangs.
	armed.Store(true)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	initsDone := make(chan struct{})
	go func() {
		defer close(initsDone)
		icl := newClient(t, tb.addr)
		for i := 0; ctx.Err() == nil; i++ {
			id := fmt.Sprintf("x-%d", i)
			req := kmsg.NewPtrInitProducerIDRequest()
			req.TransactionalID, req.TransactionTimeoutMillis = &id, 60000
			if _, err := req.RequestWith(ctx, icl); err != nil {
				return
			}
			select {
			case <-started:
				return
			default:
			}
		}
	}()
	select {
	case <-started:
	case <-time.After(2 * time.Minute):
		t.Fatal("no InitProducerId persisted a new producer id block")
	}

	end := kmsg.NewPtrEndTxnRequest()
	end.TransactionalID, end.ProducerID, end.ProducerEpoch, end.Commit = b, ir.ProducerID, ir.ProducerEpoch, true
	ectx, ecancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer ecancel()
	resp, err := end.RequestWith(ectx, cl)
	if err != nil {
		t.Fatalf("EndTxn of b while a producer id block is being persisted: %v", err)
	}
	if resp.ErrorCode != 0 {
		t.Fatalf("EndTxn of b: error %d", resp.ErrorCode)
	}
	unblock()
	cancel()
	<-initsDone
}

// TestProducerIDPersistFailure: when the block of producer ids the
// transaction coordinator asks for cannot be persisted, InitProducerId
// gets KAFKA_STORAGE_ERROR (no id is handed out unpersisted), and once the
// disk works again the next InitProducerId persists a block and succeeds.
func TestProducerIDPersistFailure(t *testing.T) {
	var failing atomic.Bool
	failing.Store(true)
	fs := errorfs.New(vfs.Default, func(op errorfs.Op, path string) error {
		if failing.Load() && op == errorfs.OpOpen && strings.Contains(path, producerIDsFile+vfs.TempSuffix) {
			return errorfs.EIO
		}
		return nil
	})
	tb := startBrokerWith(t, Config{FS: fs})
	cl := newClient(t, tb.addr)
	id := "pidfail"
	init := kmsg.NewPtrInitProducerIDRequest()
	init.TransactionalID, init.TransactionTimeoutMillis = &id, 60000
	if r := send[*kmsg.InitProducerIDResponse](t, cl, init); r.ErrorCode != kerr.KafkaStorageError.Code || r.ProducerID != -1 {
		t.Fatalf("init with producer_ids unwritable: error %d, producer id %d", r.ErrorCode, r.ProducerID)
	}
	failing.Store(false)
	r := send[*kmsg.InitProducerIDResponse](t, cl, init)
	if r.ErrorCode != 0 || r.ProducerID < 0 {
		t.Fatalf("init once the disk works: error %d, producer id %d", r.ErrorCode, r.ProducerID)
	}
	tb.pids.mu.Lock()
	reserved := tb.pids.reserved
	tb.pids.mu.Unlock()
	if r.ProducerID >= reserved {
		t.Fatalf("producer id %d handed out beyond the persisted end %d", r.ProducerID, reserved)
	}
}
