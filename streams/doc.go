// Package streams is stream processing in the shape Faust users know, in
// Go's types: an [App] runs [Agent]s, each reading a [Stream] of events from
// a source (a Kafka [Topic] or an in-memory [Channel]); agents keep state in
// partitioned [Table]s backed by compacted changelog topics and a local
// store, and send results to topics, channels and other agents.
//
//	app, _ := streams.NewApp("wordcount", streams.Brokers("127.0.0.1:9092"))
//	lines := streams.NewTopic(app, "words-in", codec.String(), codec.String())
//	words := streams.NewTopic(app, "wordcount-words", codec.String(), codec.String(), streams.Internal())
//	counts := streams.NewTable(app, "counts", words, codec.String(), codec.JSON[int64]())
//	streams.NewAgent(app, "split", lines, func(ctx context.Context, s *streams.Stream[string, string]) error {
//		for ev := range s.Events() {
//			for _, w := range strings.Fields(ev.Value) {
//				if err := words.Send(ctx, w, w); err != nil {
//					return err
//				}
//			}
//		}
//		return nil
//	})
//	streams.NewAgent(app, "count", words, func(ctx context.Context, s *streams.Stream[string, string]) error {
//		for ev := range s.Events() {
//			n := counts.Get(ev.Partition, ev.Key) + 1 // missing keys read as 0
//			if err := counts.Set(ctx, ev.Partition, ev.Key, n); err != nil {
//				return err
//			}
//		}
//		return nil
//	})
//	err := app.Run(ctx)
//
// # How a worker runs
//
// [App.Run] makes the process one worker of the app: it creates the app's
// topics (or checks them against their declared partition counts), joins
// the consumer group named by the app id with every Kafka source topic, and
// then repeats one cycle: poll a batch of records, restore the tables of
// partitions newly assigned (an assignment ends a poll early, so a table
// partition is restored when it is assigned, as Kafka Streams restores
// every assigned task's stores, whether or not its source partition gets
// records), hand each record to the agent that reads its
// topic (partition p to the instance p mod concurrency, so each partition is
// processed in order), wait until every agent has finished with every event
// of the batch, then make the batch's effects durable and commit its
// offsets:
//
//   - AtLeastOnce (the default, as in Faust): everything the agents sent is
//     flushed and acknowledged, the tables' writes are applied to their
//     local stores, then the offsets are committed. A crash replays at most
//     the last batch.
//   - ExactlyOnce: the batch is one Kafka transaction (franz-go's
//     GroupTransactSession, KIP-447): sink records, changelog records and
//     the consumed offsets commit atomically; table writes stay in a
//     per-batch overlay that reaches the local store only after the commit,
//     so an aborted batch (a rebalance, a fenced zombie, a crash) leaves
//     neither the store nor the changelog changed. Changelogs are restored
//     with read_committed.
//
// Rebalances happen only between batches (franz-go's BlockRebalanceOnPoll),
// so a table partition is never closed under an agent.
//
// A table partition restores from its local store's checkpoint to the end
// of its changelog. A long restore into Pebble (an empty or lost state
// directory) is a bulk load: records are buffered in chunks, sorted by key
// and ingested as sstables while the next chunk is read, each chunk
// durable with its checkpoint, so a worker killed mid-restore resumes from
// its last chunk.
//
// # Windows
//
// A [WindowedTable] keeps per-key windows over event time: the time of
// each event (the record's timestamp, or what [EventTime] takes from the
// record) given to [WindowedTable.Update]. Windows are [TumblingWindows],
// [HoppingWindows], [SessionWindows] and [SlidingWindows] with Kafka
// Streams' semantics:
// stream time is, per partition, the largest event time seen, and is
// stored in the changelog with each batch; a window accepts records while
// stream time < its end + grace, and later records are dropped (counted in
// Stats.LateRecords, logged at debug). Without Grace, the grace period is
// Kafka Streams' default of the deprecated TimeWindows.of and
// SessionWindows.with: 24 h less the window size (or the gap), at least 0
// ([DefaultGrace]). Reads are Faust's: [WindowedTable.Key] gives a
// [WindowSet] with Current, Now, Delta, Value and Windows. A window's state
// is deleted, with a changelog tombstone, once stream time passes its end
// plus Expires (default: the grace period), so expired windows come back
// from neither reads nor restores. [FinalResults] emits each window's
// result once, when it closes (Kafka Streams' suppress(untilWindowCloses)),
// in the batch that closed it, so under ExactlyOnce the result, the
// window's deletion and the offsets commit together; [EmitOnUpdate] emits
// every change. Sliding windows are Kafka Streams' (KIP-450): a key's
// windows are those that start or end at its records, and a new one starts
// from an existing window's value (see [SlidingWindows]).
//
// [TTL] expires the keys of a plain table not written for a duration, by
// processing time (the app's Clock): see its doc.
//
// # Agent calls
//
// [Agent.Send] and [Agent.Cast] send to an agent's source without waiting;
// [Ask] sends a request carrying a reply topic ([ReplyTopic]) and a
// correlation id in its headers (HeaderReplyTo, HeaderCorrelationID) and
// waits, with a timeout, for the agent to answer it with [ReplyTopic.Reply].
//
// # Records and schemas
//
// A record is a Go struct; its topic's codec (codec.JSON by default in the
// examples, codec.Avro, codec.JSONSchema, codec.Protobuf) serializes it.
// [Schema] derives its JSON Schema and its Avro schema, with field
// defaults and optional (pointer) fields. [SerdeCodec] makes a registry
// codec.Serde a topic's codec: records are framed with their schema id and
// decoded with the writer's schema.
//
// # Timers
//
// [Every] and [Crontab] declare timers that run on one worker of the app at
// a time, as Faust's on_leader timers: every worker subscribes to the
// internal topic APPID-__leader, which has one partition, and the worker
// assigned it runs the timers until it is revoked. Timers read the app's
// clock.
//
// The worker reaches Kafka through a small internal transport (poll,
// produce, flush, commit offsets or end a transaction, read a changelog
// partition); franz-go implements it for Run and an in-memory log for the
// [Driver].
//
// # Joins
//
// Kafka Streams' joins, declared like the rest of the topology:
// [TableOf] materializes a table from a topic (its changelog is the topic);
// [JoinStreamTable] (inner, left) joins a stream with such a table,
// [JoinStreams] (inner, left, outer) two streams within a [JoinWindow],
// buffering each side in a window store with a changelog, [JoinTables]
// (inner, left, outer) two tables, emitting on updates of either side, and
// [JoinGlobal] a stream with a [GlobalTable], which every worker holds
// whole, by a key computed from each record. All joins run in the app's
// join processor, which processes one partition's records of all its
// topics in timestamp order. The topics of a join must be co-partitioned:
// Run checks their partition counts at start (ErrTopology, naming the
// topics and their counts).
//
// # Interactive queries
//
// With [QueryServer], a worker serves its tables over HTTP (GET
// /tables/NAME/KEY) and forwards requests for keys it does not own to
// their owner, whose address it finds in the consumer group's member
// metadata; [Table.Query] does the same from Go. A windowed table answers
// GET /tables/NAME/KEY?window=START (START in Unix ms) with the key's window
// starting there as {"window_start", "window_end", "value"}, and without
// ?window= with the list of the key's live windows;
// [WindowedTable.Query] and [WindowedTable.QueryWindows] are the same from
// Go.
//
// # Metrics
//
// With [Metrics](registerer), the app counts in Prometheus what Kafka
// Streams' metrics count: records processed per agent
// (sluice_streams_records_processed_total), late records dropped per
// windowed table or join (sluice_streams_late_records_total), changelog
// records restored and still to restore per table
// (sluice_streams_restored_records_total,
// sluice_streams_restore_remaining_records), standby updates, batches
// committed and aborted, and decode errors, all labelled with the app id;
// the query server serves them at GET /metrics. See metrics.go.
//
// # Standby replicas
//
// With [StandbyReplicas](n), n workers besides a table partition's owner
// keep a warm copy of it in their local store by tailing its changelog, so
// the worker that takes the partition over restores only the copy's lag
// (Kafka Streams' num.standby.replicas). The group leader gives a
// partition to a worker whose copy is within [AcceptableRecoveryLag]
// (default 10000 records) when the worker the range assignor planned is
// not, has the planned worker warm up a copy, and rebalances again after
// [ProbingRebalanceInterval] (default 10 minutes) to move it there once
// caught up (Kafka Streams' acceptable.recovery.lag, warm-up replicas and
// probing rebalances, in their simplest form).
//
// # Testing without a broker
//
// [NewDriver] runs an app over in-memory topics with a fake clock, as
// Faust's agent.test_context() and Kafka Streams' TopologyTestDriver do:
// send to the app's topics from the test, call [Driver.Process] to run
// batches until every input is consumed, then read what the agents sent
// with [Output] and the tables with [TableContents]. The batch cycle, the
// tables and both guarantees are the worker's own (an agent failure under
// ExactlyOnce aborts its batch, so Output does not show its sends).
//
// # Where this differs from Faust
//
// Topologies are declared before Run (NewTopic, NewAgent, NewTable,
// GroupBy), as in Kafka Streams, rather than built while an agent runs; Go
// has no implicit "current event", so table operations name the partition
// (the event's); an agent's concurrency keeps per-partition order (Faust's
// concurrent agent instances share one stream and lose it).
package streams
