package meta

// Kafka 4.0 broker configs that this broker honours. ReadOnly marks the ones
// Kafka does not allow to change dynamically (plus the listeners, which Kafka
// allows per broker but this broker cannot rebind at run time).

const (
	msPerMinute = 60 * 1000
	msPerHour   = 60 * msPerMinute
)

var brokerSpecs = []spec{
	// Identity, storage layout and networking: static only.
	{ConfigDef{Name: "advertised.listeners", Type: TypeString, ReadOnly: true,
		Doc: "Specify the listeners to be used by clients to connect to this broker. If not set, the value for `listeners` will be used."}, nil},
	{ConfigDef{Name: "allow.everyone.if.no.acl.found", Type: TypeBoolean, Default: "false", HasDefault: true, ReadOnly: true,
		Doc: "With the ACL authorizer: when no ACL matches a resource, allow every principal to access it (true) or only super users (false)."}, nil},
	{ConfigDef{Name: "authorizer.class.name", Type: TypeString, Default: "", HasDefault: true, ReadOnly: true,
		Doc: "The fully qualified name of a class that implements org.apache.kafka.server.authorizer.Authorizer interface, which is used by the broker for authorization. Sluice accepts org.apache.kafka.metadata.authorizer.StandardAuthorizer (or acl) for its ACL authorizer; empty allows every operation unless super.users is set."}, nil},
	{ConfigDef{Name: "auto.create.topics.enable", Type: TypeBoolean, Default: "true", HasDefault: true, ReadOnly: true,
		Doc: "Enable auto creation of topic on the server."}, nil},
	{ConfigDef{Name: "broker.id", Type: TypeInt, Default: "-1", HasDefault: true, ReadOnly: true,
		Doc: "The broker id for this server."}, nil},
	{ConfigDef{Name: "connection.failed.authentication.delay.ms", Type: TypeInt, Default: "100", HasDefault: true, ReadOnly: true,
		Doc: "Connection close delay on failed authentication: this is the time (in milliseconds) by which connection close will be delayed on authentication failure. This must be configured to be less than connections.max.idle.ms to prevent connection timeout. In Sluice the error response is sent after the delay, then the connection is closed."},
		atLeast(0)},
	{ConfigDef{Name: "connection.failed.authentication.per.address.per.minute", Type: TypeInt, Default: "300", HasDefault: true, ReadOnly: true,
		Doc: "Sluice's own, not a Kafka config: how many failed SASL authentications a client address may have per minute (a token bucket holding a minute's worth); past it every attempt from that address fails with SASL_AUTHENTICATION_FAILED, without the credentials being checked, until the bucket refills. 0 disables the limit."},
		atLeast(0)},
	{ConfigDef{Name: "connection.failed.authentication.per.user.per.minute", Type: TypeInt, Default: "30", HasDefault: true, ReadOnly: true,
		Doc: "Sluice's own, not a Kafka config: how many failed SASL authentications a user name (existing or not) may have per minute, from all addresses together (a token bucket holding a minute's worth); past it every attempt as that user fails with SASL_AUTHENTICATION_FAILED, also with the right password, until the bucket refills. 0 disables the limit."},
		atLeast(0)},
	{ConfigDef{Name: "connections.max.reauth.ms", Type: TypeLong, Default: "0", HasDefault: true, ReadOnly: true,
		Doc: "When explicitly set to a positive number (the default is 0, not a positive number), a session lifetime that will not exceed the configured value will be communicated to v2.2.0 or later clients when they authenticate. The broker will disconnect any such connection that is not re-authenticated within the session lifetime and that is then subsequently used for any purpose other than re-authentication."},
		atLeast(0)},
	{ConfigDef{Name: "connections.max.idle.ms", Type: TypeLong, Default: "600000", HasDefault: true, ReadOnly: true,
		Doc: "Idle connections timeout: the server socket processor threads close the connections that idle more than this"}, nil},
	{ConfigDef{Name: "default.replication.factor", Type: TypeInt, Default: "1", HasDefault: true, ReadOnly: true,
		Doc: "The replication factor for automatically created topics, and for topics created with -1 as the replication factor"}, nil},
	{ConfigDef{Name: "delete.topic.enable", Type: TypeBoolean, Default: "true", HasDefault: true, ReadOnly: true,
		Doc: "Enables delete topic. Delete topic through the admin tool will have no effect if this config is turned off"}, nil},
	{ConfigDef{Name: "group.consumer.assignors", Type: TypeList, Default: "uniform,range", HasDefault: true, ReadOnly: true,
		Doc: "The server-side assignors as a list of either names for builtin assignors or full class names for customer assignors. The first one in the list is considered as the default assignor to be used in the case where the consumer does not specify an assignor. The supported builtin assignors are: uniform, range."},
		listOf("uniform", "range", "org.apache.kafka.coordinator.group.assignor.UniformAssignor", "org.apache.kafka.coordinator.group.assignor.RangeAssignor")},
	{ConfigDef{Name: "group.consumer.heartbeat.interval.ms", Type: TypeInt, Default: "5000", HasDefault: true, ReadOnly: true,
		Doc: "The heartbeat interval given to the members of a consumer group."},
		atLeast(1)},
	{ConfigDef{Name: "group.consumer.migration.policy", Type: TypeString, Default: "disabled", HasDefault: true, ReadOnly: true,
		Doc: "The config that enables converting the non-empty classic group using the consumer embedded protocol to the non-empty consumer group using the consumer group protocol and vice versa. Sluice supports only disabled (Kafka's default is bidirectional): an empty group converts on first use, a non-empty one does not."},
		oneOf("disabled")},
	{ConfigDef{Name: "group.consumer.session.timeout.ms", Type: TypeInt, Default: "45000", HasDefault: true, ReadOnly: true,
		Doc: "The timeout to detect client failures when using the consumer group protocol."},
		atLeast(1)},
	{ConfigDef{Name: "group.initial.rebalance.delay.ms", Type: TypeInt, Default: "3000", HasDefault: true, ReadOnly: true,
		Doc: "The amount of time the group coordinator will wait for more consumers to join a new group before performing the first rebalance."},
		atLeast(0)},
	{ConfigDef{Name: "group.max.session.timeout.ms", Type: TypeInt, Default: "1800000", HasDefault: true, ReadOnly: true,
		Doc: "The maximum allowed session timeout for registered consumers. Longer timeouts give consumers more time to process messages in between heartbeats at the cost of a longer time to detect failures."},
		atLeast(1)},
	{ConfigDef{Name: "group.min.session.timeout.ms", Type: TypeInt, Default: "6000", HasDefault: true, ReadOnly: true,
		Doc: "The minimum allowed session timeout for registered consumers. Shorter timeouts result in quicker failure detection at the cost of more frequent consumer heartbeating, which can overwhelm broker resources."},
		atLeast(1)},
	{ConfigDef{Name: "listeners", Type: TypeString, Default: "PLAINTEXT://:9092", HasDefault: true, ReadOnly: true,
		Doc: "Listener List - Comma-separated list of URIs we will listen on and the listener names."}, nil},
	{ConfigDef{Name: "log.decompression.budget.bytes", Type: TypeLong, Default: "100663296", HasDefault: true, ReadOnly: true,
		Doc: "Sluice's own, not a Kafka config: the memory, in bytes, that all batches being decompressed at once (produce validation, compaction, timestamp lookups) may hold together; one batch is still bounded by max(64 MiB, 64 × max.message.bytes). A decompression that cannot start within 2 seconds, or that outgrows what is left, fails its partition with REQUEST_TIMED_OUT, which clients retry. The budget is process-wide."},
		atLeast(1)},
	{ConfigDef{Name: "log.dir", Type: TypeList, Default: "/tmp/kafka-logs", HasDefault: true, ReadOnly: true,
		Doc: "The directory in which the log data is kept (supplemental for log.dirs property)"}, nil},
	{ConfigDef{Name: "log.dir.min.free.bytes", Type: TypeLong, ReadOnly: true,
		Doc: "Sluice's own, not a Kafka config: the free space, in bytes, below which a produce request would take the disk holding the data directory fails with KAFKA_STORAGE_ERROR instead of filling it; reads go on, and produce resumes once space is back. If not set: 5% of the size of that file system, at most 1073741824 (1 GiB). 0 disables the check."},
		atLeast(0)},
	{ConfigDef{Name: "log.dirs", Type: TypeList, ReadOnly: true,
		Doc: "A comma-separated list of the directories where the log data is stored. If not set, the value in log.dir is used."}, nil},
	{ConfigDef{Name: "log.flush.scheduler.interval.ms", Type: TypeLong, Default: maxLong, HasDefault: true, ReadOnly: true,
		Doc: "The frequency in ms that the log flusher checks whether any log needs to be flushed to disk"}, nil},
	{ConfigDef{Name: "log.retention.check.interval.ms", Type: TypeLong, Default: "5000", HasDefault: true, ReadOnly: true,
		Doc: "The frequency in milliseconds that the log cleaner checks whether any log is eligible for deletion. Sluice's default is 5000 (Kafka's is 300000), so that retention acts, and the cleaner finds work, within 10 seconds."},
		atLeast(1)},
	{ConfigDef{Name: "log.retention.hours", Type: TypeInt, Default: "168", HasDefault: true, ReadOnly: true,
		Doc: "The number of hours to keep a log file before deleting it (in hours), tertiary to log.retention.ms property"}, nil},
	{ConfigDef{Name: "log.retention.minutes", Type: TypeInt, ReadOnly: true,
		Doc: "The number of minutes to keep a log file before deleting it (in minutes), secondary to log.retention.ms property. If not set, the value in log.retention.hours is used"}, nil},
	{ConfigDef{Name: "log.roll.hours", Type: TypeInt, Default: "168", HasDefault: true, ReadOnly: true,
		Doc: "The maximum time before a new log segment is rolled out (in hours), secondary to log.roll.ms property"},
		atLeast(1)},
	{ConfigDef{Name: "log.roll.jitter.hours", Type: TypeInt, Default: "0", HasDefault: true, ReadOnly: true,
		Doc: "The maximum jitter to subtract from logRollTimeMillis (in hours), secondary to log.roll.jitter.ms property"},
		atLeast(0)},
	{ConfigDef{Name: "node.id", Type: TypeInt, Default: "-1", HasDefault: true, ReadOnly: true,
		Doc: "The node ID associated with the roles this process is playing when `process.roles` is non-empty. This is required configuration when running in KRaft mode."}, nil},
	{ConfigDef{Name: "num.partitions", Type: TypeInt, Default: "1", HasDefault: true, ReadOnly: true,
		Doc: "The default number of log partitions per topic"},
		atLeast(1)},
	{ConfigDef{Name: "offset.metadata.max.bytes", Type: TypeInt, Default: "4096", HasDefault: true, ReadOnly: true,
		Doc: "The maximum size for a metadata entry associated with an offset commit."}, nil},
	{ConfigDef{Name: "offsets.retention.check.interval.ms", Type: TypeLong, Default: "600000", HasDefault: true, ReadOnly: true,
		Doc: "Frequency at which to check for stale offsets"}, atLeast(1)},
	{ConfigDef{Name: "offsets.retention.minutes", Type: TypeInt, Default: "10080", HasDefault: true, ReadOnly: true,
		Doc: "For subscribed consumers, committed offset of a specific partition will be expired and discarded when 1) this retention period has elapsed after the consumer group loses all its consumers (i.e. becomes empty); 2) this retention period has elapsed since the last time an offset is committed for the partition and the group is no longer subscribed to the corresponding topic. For standalone consumers (using manual assignment), offsets will be expired after this retention period has elapsed since the time of last commit. Note that when a group is deleted via the delete-group request, its committed offsets will also be deleted without extra retention period; also when a topic is deleted via the delete-topic request, upon propagated metadata update any group's committed offsets for that topic will also be deleted without extra retention period."},
		atLeast(1)},
	{ConfigDef{Name: "offsets.topic.num.partitions", Type: TypeInt, Default: "50", HasDefault: true, ReadOnly: true,
		Doc: "The number of partitions for the offset commit topic (should not change after deployment)."},
		atLeast(1)},
	// Client quotas (internal/quota): the sliding window rates are measured over.
	{ConfigDef{Name: "queued.max.request.bytes", Type: TypeLong, Default: "268435456", HasDefault: true, ReadOnly: true,
		Doc: "The number of queued bytes allowed before no more requests are read. Sluice's default is 268435456 (256 MiB; Kafka's is -1, unbounded) and it counts only frames larger than 1 MiB, by their declared size, from when the size is read until the request is answered: a connection whose frame does not fit waits, unread, until it does (a frame larger than the whole budget is admitted when no other is). -1 disables it."},
		nil},
	{ConfigDef{Name: "quota.window.num", Type: TypeInt, Default: "11", HasDefault: true, ReadOnly: true,
		Doc: "The number of samples to retain in memory for client quotas"},
		atLeast(1)},
	{ConfigDef{Name: "quota.window.size.seconds", Type: TypeInt, Default: "1", HasDefault: true, ReadOnly: true,
		Doc: "The time span of each sample for client quotas"},
		atLeast(1)},
	// Security (internal/broker/sasl.go, tls.go). Unlike Kafka (GSSAPI),
	// the default mechanisms are the two SCRAM ones, which Sluice serves.
	{ConfigDef{Name: "sasl.enabled.mechanisms", Type: TypeList, Default: "SCRAM-SHA-256,SCRAM-SHA-512", HasDefault: true, ReadOnly: true,
		Doc: "The list of SASL mechanisms enabled in the Kafka server. The list may contain any mechanism for which a security provider is available."},
		listOf("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512", "OAUTHBEARER")},
	{ConfigDef{Name: "sasl.oauthbearer.clock.skew.seconds", Type: TypeInt, Default: "30", HasDefault: true, ReadOnly: true,
		Doc: "The (optional) value in seconds to allow for differences between the time of the OAuth/OIDC identity provider and the broker."}, atLeast(0)},
	{ConfigDef{Name: "sasl.oauthbearer.expected.audience", Type: TypeList, ReadOnly: true,
		Doc: "The (optional) comma-delimited setting for the broker to use to verify that the JWT was issued for one of the expected audiences."}, nil},
	{ConfigDef{Name: "sasl.oauthbearer.expected.issuer", Type: TypeString, ReadOnly: true,
		Doc: "The (optional) setting for the broker to use to verify that the JWT was created by the expected issuer."}, nil},
	{ConfigDef{Name: "sasl.oauthbearer.jwks.endpoint.url", Type: TypeString, ReadOnly: true,
		Doc: "The OAuth/OIDC provider URL from which the provider's JWKS (JSON Web Key Set) can be retrieved. Sluice reads a local file: file:///path or a path."}, nil},
	{ConfigDef{Name: "sasl.oauthbearer.sub.claim.name", Type: TypeString, Default: "sub", HasDefault: true, ReadOnly: true,
		Doc: "The OAuth claim for the subject is often named \"sub\", but this (optional) setting can provide a different name to use for the subject included in the JWT payload's claims if the OAuth/OIDC provider uses a different name for that claim."}, nil},
	{ConfigDef{Name: "socket.request.max.bytes", Type: TypeInt, Default: "104857600", HasDefault: true, ReadOnly: true,
		Doc: "The maximum number of bytes in a socket request"},
		atLeast(1)},
	{ConfigDef{Name: "ssl.client.auth", Type: TypeString, Default: "none", HasDefault: true, ReadOnly: true,
		Doc: "Configures kafka broker to request client authentication: required, requested or none."},
		oneOf("required", "requested", "none")},
	{ConfigDef{Name: "ssl.principal.mapping.rules", Type: TypeString, Default: "DEFAULT", HasDefault: true, ReadOnly: true,
		Doc: "A list of rules for mapping from distinguished name from the client certificate to short name. The rules are evaluated in order and the first rule that matches a principal name is used to map it to a short name. Any later rules in the list are ignored. By default, distinguished name of the X.500 certificate will be the principal."}, nil},
	{ConfigDef{Name: "super.users", Type: TypeString, ReadOnly: true,
		Doc: "A semicolon-separated list of principals (User:admin;User:ops) allowed every operation by the ACL authorizer, whatever the ACLs say. Setting it enables the ACL authorizer."}, nil},
	{ConfigDef{Name: "producer.id.expiration.ms", Type: TypeInt, Default: "86400000", HasDefault: true,
		Doc: "The time in ms that a topic partition leader will wait before expiring producer IDs. Producer IDs will not expire while a transaction associated to them is still ongoing. Note that producer IDs may expire sooner if the last write from the producer ID is deleted due to the topic's retention settings. Setting this value the same or higher than delivery.timeout.ms can help prevent expiration during retries and protect against message duplication, but the default should be reasonable for most use cases."},
		atLeast(1)},
	{ConfigDef{Name: "transaction.state.log.num.partitions", Type: TypeInt, Default: "50", HasDefault: true, ReadOnly: true,
		Doc: "The number of partitions for the transaction topic (should not change after deployment)."},
		atLeast(1)},
	{ConfigDef{Name: "transactional.id.expiration.ms", Type: TypeInt, Default: "604800000", HasDefault: true, ReadOnly: true,
		Doc: "The time in ms that the transaction coordinator will wait without receiving any transaction status updates for the current transaction before expiring its transactional id. Transactional IDs will not expire while a the transaction is still ongoing."},
		atLeast(1)},
	{ConfigDef{Name: "transaction.max.timeout.ms", Type: TypeInt, Default: "900000", HasDefault: true, ReadOnly: true,
		Doc: "The maximum allowed timeout for transactions. If a client's requested transaction time exceed this, then the broker will return an error in InitProducerIdRequest. This prevents a client from too large of a timeout, which can stall consumers reading from topics included in the transaction."},
		atLeast(1)},

	// Topic-config synonyms and cleaner settings: dynamically updatable.
	{ConfigDef{Name: "compression.gzip.level", Type: TypeInt, Default: "-1", HasDefault: true,
		Doc: "The compression level to use if compression.type is set to gzip."}, gzipLevel},
	{ConfigDef{Name: "compression.lz4.level", Type: TypeInt, Default: "9", HasDefault: true,
		Doc: "The compression level to use if compression.type is set to lz4."}, between(1, 17)},
	{ConfigDef{Name: "compression.type", Type: TypeString, Default: "producer", HasDefault: true,
		Doc: "Specify the final compression type for a given topic. This configuration accepts the standard compression codecs ('gzip', 'snappy', 'lz4', 'zstd'). It additionally accepts 'uncompressed' which is equivalent to no compression; and 'producer' which means retain the original compression codec set by the producer."},
		oneOf(compressionTypes...)},
	{ConfigDef{Name: "compression.zstd.level", Type: TypeInt, Default: "3", HasDefault: true,
		Doc: "The compression level to use if compression.type is set to zstd."}, between(-131072, 22)},
	{ConfigDef{Name: "log.cleaner.backoff.ms", Type: TypeLong, Default: "15000", HasDefault: true,
		Doc: "The amount of time to sleep when there are no logs to clean"}, atLeast(0)},
	{ConfigDef{Name: "log.cleaner.dedupe.buffer.size", Type: TypeLong, Default: "134217728", HasDefault: true,
		Doc: "The total memory used for log deduplication across all cleaner threads. Sluice spends, as Kafka, 24 bytes per key (a 16-byte hash and an 8-byte offset) of the dirty section: a clean maps only as many whole segments as fit, the rest waits for the next one."}, nil},
	{ConfigDef{Name: "log.cleaner.delete.retention.ms", Type: TypeLong, Default: "86400000", HasDefault: true,
		Doc: "The amount of time to retain tombstone message markers for log compacted topics."}, atLeast(0)},
	{ConfigDef{Name: "log.cleaner.io.buffer.load.factor", Type: TypeDouble, Default: "0.9", HasDefault: true,
		Doc: "Log cleaner dedupe buffer load factor. The percentage full the dedupe buffer can become. A higher value will allow more log to be cleaned at once but will lead to more hash collisions"}, nil},
	{ConfigDef{Name: "log.cleaner.io.max.bytes.per.second", Type: TypeDouble, Default: "1.7976931348623157E308", HasDefault: true,
		Doc: "The log cleaner will be throttled so that the sum of its read and write i/o will be less than this value on average"}, nil},
	{ConfigDef{Name: "log.cleaner.max.compaction.lag.ms", Type: TypeLong, Default: maxLong, HasDefault: true,
		Doc: "The maximum time a message will remain ineligible for compaction in the log. Only applicable for logs that are being compacted."}, atLeast(1)},
	{ConfigDef{Name: "log.cleaner.min.cleanable.ratio", Type: TypeDouble, Default: "0.5", HasDefault: true,
		Doc: "The minimum ratio of dirty log to total log for a log to eligible for cleaning."}, ratio},
	{ConfigDef{Name: "log.cleaner.min.compaction.lag.ms", Type: TypeLong, Default: "0", HasDefault: true,
		Doc: "The minimum time a message will remain uncompacted in the log. Only applicable for logs that are being compacted."}, atLeast(0)},
	{ConfigDef{Name: "log.cleanup.policy", Type: TypeList, Default: "delete", HasDefault: true,
		Doc: "The default cleanup policy for segments beyond the retention window. A comma separated list of valid policies."},
		listOf("compact", "delete")},
	{ConfigDef{Name: "log.flush.interval.messages", Type: TypeLong, Default: maxLong, HasDefault: true,
		Doc: "The number of messages accumulated on a log partition before messages are flushed to disk."}, atLeast(1)},
	{ConfigDef{Name: "log.flush.interval.ms", Type: TypeLong,
		Doc: "The maximum time in ms that a message in any topic is kept in memory before flushed to disk. If not set, the value in log.flush.scheduler.interval.ms is used"}, nil},
	{ConfigDef{Name: "log.index.interval.bytes", Type: TypeInt, Default: "4096", HasDefault: true,
		Doc: "The interval with which we add an entry to the offset index."}, atLeast(0)},
	{ConfigDef{Name: "log.index.size.max.bytes", Type: TypeInt, Default: long(10 << 20), HasDefault: true,
		Doc: "The maximum size in bytes of the offset index"}, atLeast(4)},
	{ConfigDef{Name: "log.local.retention.bytes", Type: TypeLong, Default: "-2", HasDefault: true,
		Doc: "The maximum size of local log segments that can grow for a partition before it gets eligible for deletion. Default value is -2, it represents `log.retention.bytes` value to be used."}, atLeast(-2)},
	{ConfigDef{Name: "log.local.retention.ms", Type: TypeLong, Default: "-2", HasDefault: true,
		Doc: "The number of milliseconds to keep the local log segments before it gets eligible for deletion. Default value is -2, it represents `log.retention.ms` value is to be used."}, atLeast(-2)},
	{ConfigDef{Name: "log.message.timestamp.after.max.ms", Type: TypeLong, Default: "3600000", HasDefault: true,
		Doc: "This configuration sets the allowable timestamp difference between the message timestamp and the broker's timestamp. If log.message.timestamp.type=CreateTime, the message will be rejected if the difference in timestamps exceeds this specified threshold. This configuration is ignored if log.message.timestamp.type=LogAppendTime."}, atLeast(0)},
	{ConfigDef{Name: "log.message.timestamp.before.max.ms", Type: TypeLong, Default: maxLong, HasDefault: true,
		Doc: "This configuration sets the allowable timestamp difference between the broker's timestamp and the message timestamp. If log.message.timestamp.type=CreateTime, the message will be rejected if the difference in timestamps exceeds this specified threshold. This configuration is ignored if log.message.timestamp.type=LogAppendTime."}, atLeast(0)},
	{ConfigDef{Name: "log.message.timestamp.type", Type: TypeString, Default: "CreateTime", HasDefault: true,
		Doc: "Define whether the timestamp in the message is message create time or log append time. The value should be either `CreateTime` or `LogAppendTime`."},
		oneOf("CreateTime", "LogAppendTime")},
	{ConfigDef{Name: "log.preallocate", Type: TypeBoolean, Default: "false", HasDefault: true,
		Doc: "Should pre allocate file when create new segment? If you are using Kafka on Windows, you probably need to set it to true."}, nil},
	{ConfigDef{Name: "log.retention.bytes", Type: TypeLong, Default: "-1", HasDefault: true,
		Doc: "The maximum size of the log before deleting it"}, nil},
	{ConfigDef{Name: "log.retention.ms", Type: TypeLong,
		Doc: "The number of milliseconds to keep a log file before deleting it (in milliseconds), If not set, the value in log.retention.minutes is used. If set to -1, no time limit is applied."}, nil},
	{ConfigDef{Name: "log.roll.jitter.ms", Type: TypeLong,
		Doc: "The maximum jitter to subtract from logRollTimeMillis (in milliseconds). If not set, the value in log.roll.jitter.hours is used"}, nil},
	{ConfigDef{Name: "log.roll.ms", Type: TypeLong,
		Doc: "The maximum time before a new log segment is rolled out (in milliseconds). If not set, the value in log.roll.hours is used"}, nil},
	{ConfigDef{Name: "log.segment.bytes", Type: TypeInt, Default: long(1 << 30), HasDefault: true,
		Doc: "The maximum size of a single log file"}, atLeast(minSegmentBytes)},
	{ConfigDef{Name: "log.segment.delete.delay.ms", Type: TypeLong, Default: "60000", HasDefault: true,
		Doc: "The amount of time to wait before deleting a file from the filesystem. If the value is 0 and there is no file to delete, the system will wait 1 millisecond. Low value will cause busy waiting"}, atLeast(0)},
	{ConfigDef{Name: "message.max.bytes", Type: TypeInt, Default: "1048588", HasDefault: true,
		Doc: "The largest record batch size allowed by Kafka (after compression if compression is enabled)."}, atLeast(0)},
	{ConfigDef{Name: "min.insync.replicas", Type: TypeInt, Default: "1", HasDefault: true,
		Doc: `When a producer sets acks to "all" (or "-1"), min.insync.replicas specifies the minimum number of replicas that must acknowledge a write for the write to be considered successful.`}, atLeast(1)},
	{ConfigDef{Name: "unclean.leader.election.enable", Type: TypeBoolean, Default: "false", HasDefault: true,
		Doc: "Indicates whether to enable replicas not in the ISR set to be elected as leader as a last resort, even though doing so may result in data loss"}, nil},
	// Sluice's own: see internal/log/lazy.go.
	{ConfigDef{Name: "log.lazy.load.enable", Type: TypeBoolean, Default: "false", HasDefault: true, ReadOnly: true,
		Doc: "Sluice only. Load the log of a partition that was closed cleanly on its first use rather than at start-up, so that a broker with many partitions starts in seconds. A partition not closed cleanly is always loaded, and its tail checked, at start-up. With it, damage to a cleanly closed partition's files is found on first use (the partition answers KAFKA_STORAGE_ERROR and the error names the file) instead of stopping start-up, and the scrubber and retention visit loaded partitions only."}, nil},
	// Sluice's own: see internal/log/filecap.go.
	{ConfigDef{Name: "log.open.files.max", Type: TypeInt, Default: "0", HasDefault: true, ReadOnly: true,
		Doc: "Sluice only. The most segment files the partitions' logs keep open; 0 means no cap. When loading a partition would exceed it, the least recently used idle partitions that were loaded on first use are closed cleanly and loaded again on their next use. A cap turns on log.lazy.load.enable's loading on first use, which it needs to hold across restarts. Partitions loaded at start-up (after an unclean shutdown, or with open transactions) are not closed. When every partition counted is in use the cap is exceeded until some are idle."}, atLeast(0)},
	// Sluice's own (Kafka has no scrubber): see internal/broker/scrub.go.
	{ConfigDef{Name: "log.scrubber.io.max.bytes.per.second", Type: TypeLong, Default: "4194304", HasDefault: true,
		Doc: "Sluice only. Bytes per second of stored record batches that the background scrubber CRC-checks, among those no fetch or recovery has checked since start-up; a damaged batch is logged, counted and answered with CORRUPT_MESSAGE. 0 disables scrubbing."}, atLeast(0)},
}

// chainLink is one broker config in a fallback chain and the factor that
// converts its unit to milliseconds.
type chainLink struct {
	name   string
	factor int64
}

// brokerChains are Kafka's fallback chains, keyed by their head (the
// BrokerSynonym of the topic config): the first config in the chain that has
// a value supplies it (ServerTopicConfigSynonyms.ALL_TOPIC_CONFIG_SYNONYMS).
var brokerChains = map[string][]chainLink{
	"log.retention.ms":      {{"log.retention.ms", 1}, {"log.retention.minutes", msPerMinute}, {"log.retention.hours", msPerHour}},
	"log.roll.ms":           {{"log.roll.ms", 1}, {"log.roll.hours", msPerHour}},
	"log.roll.jitter.ms":    {{"log.roll.jitter.ms", 1}, {"log.roll.jitter.hours", msPerHour}},
	"log.flush.interval.ms": {{"log.flush.interval.ms", 1}, {"log.flush.scheduler.interval.ms", 1}},
}

// brokerChain returns the fallback chain headed by name (a single link for
// configs without one).
func brokerChain(name string) []chainLink {
	if c, ok := brokerChains[name]; ok {
		return c
	}
	return []chainLink{{name, 1}}
}

// brokerSynonymNames is Kafka's DynamicBrokerConfig.brokerConfigSynonyms:
// the names reported as synonyms of a broker config. Every member of the
// retention and roll chains has the whole chain; log.flush.interval.ms has
// its chain but log.flush.scheduler.interval.ms only itself.
func brokerSynonymNames(name string) []string {
	for head, chain := range brokerChains {
		for i, l := range chain {
			if l.name == name && (i == 0 || head != "log.flush.interval.ms") {
				names := make([]string, len(chain))
				for j, l := range chain {
					names[j] = l.name
				}
				return names
			}
		}
	}
	return []string{name}
}
