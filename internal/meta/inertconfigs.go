package meta

import "strconv"

// Broker configs Kafka 4.x lets you change dynamically (DynamicBrokerConfig
// .AllDynamicConfigs: thread pools, connection limits, SASL login and
// Kerberos settings, SSL protocol settings, remote-log manager settings,
// coordinator buffers) that have no effect on Sluice: it has no such thread
// pools, no Kerberos, no tiered storage and no replication. They are
// accepted, validated with Kafka's rules, persisted and described with
// Kafka's defaults, so that tools and scripts written for Kafka work; each
// doc says it has no effect. PerBroker marks Kafka's "per-broker" update
// mode: those cannot be set at the cluster-default level (resource name "").
//
// Not here: the SSL keystore/truststore configs, which Kafka allows to
// change only with a listener.name.<listener>. prefix (Sluice does not
// support listener-prefixed configs), and listeners,
// listener.security.protocol.map, sasl.enabled.mechanisms and
// ssl.client.auth, which Sluice applies at start-up and cannot change at run
// time (they are read-only in brokerconfigs.go).

const noEffect = " Sluice accepts and describes this config as Kafka does, but it has no effect on Sluice."

// inert returns a dynamic config definition that has no effect on Sluice.
func inert(name string, typ ConfigType, def string, hasDef, perBroker bool, doc string, r rule) spec {
	return spec{ConfigDef{Name: name, Type: typ, Default: def, HasDefault: hasDef, PerBroker: perBroker,
		Sensitive: typ == TypePassword, Doc: doc + noEffect}, r}
}

// betweenF is ConfigDef.Range.between for DOUBLE values.
func betweenF(lo, hi float64) rule {
	return func(name, raw string, v parsed) *ConfigError {
		if v.f < lo {
			return invalidValue(name, raw, "Value must be at least "+javaDouble(lo))
		}
		if v.f > hi {
			return invalidValue(name, raw, "Value must be no more than "+javaDouble(hi))
		}
		return nil
	}
}

var maxInt = strconv.Itoa(1<<31 - 1)

var inertBrokerSpecs = []spec{
	// Thread pools (DynamicThreadPool, LogCleaner): cluster-wide.
	inert("background.threads", TypeInt, "10", true, false, "The number of threads to use for various background processing tasks", atLeast(1)),
	inert("num.io.threads", TypeInt, "8", true, false, "The number of threads that the server uses for processing requests, which may include disk I/O", atLeast(1)),
	inert("num.network.threads", TypeInt, "3", true, false, "The number of threads that the server uses for receiving requests from the network and sending responses to the network.", atLeast(1)),
	inert("num.recovery.threads.per.data.dir", TypeInt, "2", true, false, "The number of threads per data directory to be used for log recovery at startup and flushing at shutdown", atLeast(1)),
	inert("num.replica.fetchers", TypeInt, "1", true, false, "Number of fetcher threads used to replicate records from each source broker.", nil),
	inert("log.cleaner.threads", TypeInt, "1", true, false, "The number of background threads to use for log cleaning.", atLeast(0)),
	inert("log.cleaner.io.buffer.size", TypeInt, "524288", true, false, "The total memory used for log cleaner I/O buffers across all cleaner threads", atLeast(0)),
	inert("metric.reporters", TypeList, "org.apache.kafka.common.metrics.JmxReporter", true, false, "A list of classes to use as metrics reporters.", nil),
	inert("config.providers", TypeList, "", true, false, "Comma-separated names of ConfigProvider classes, loaded and used in the order specified.", nil),
	// Connection limits (SocketServer, DynamicListenerConfig): cluster-wide.
	inert("max.connections", TypeInt, maxInt, true, false, "The maximum number of connections we allow in the broker at any time.", atLeast(0)),
	inert("max.connection.creation.rate", TypeInt, maxInt, true, false, "The maximum connection creation rate we allow in the broker at any time.", atLeast(0)),
	inert("max.connections.per.ip", TypeInt, maxInt, true, false, "The maximum number of connections we allow from each ip address.", atLeast(0)),
	inert("max.connections.per.ip.overrides", TypeString, "", true, false, "A comma-separated list of per-ip or hostname overrides to the default maximum number of connections.", nil),
	// Producer state (DynamicProducerStateManagerConfig).
	inert("transaction.partition.verification.enable", TypeBoolean, "true", true, false, "Enable verification that checks that the partition has been added to the transaction before writing transactional records to the partition.", nil),
	// Tiered storage (DynamicRemoteLogConfig) and replication.
	inert("remote.log.index.file.cache.total.size.bytes", TypeLong, "1073741824", true, false, "The total size of the space allocated to store index files fetched from remote storage in the local storage.", atLeast(1)),
	inert("remote.fetch.max.wait.ms", TypeInt, "500", true, false, "The maximum amount of time the server will wait before answering the remote fetch request.", atLeast(1)),
	inert("remote.log.manager.copy.max.bytes.per.second", TypeLong, maxLong, true, false, "The maximum number of bytes that can be copied from local storage to remote storage per second.", atLeast(1)),
	inert("remote.log.manager.fetch.max.bytes.per.second", TypeLong, maxLong, true, false, "The maximum number of bytes that can be read from remote storage to local storage per second.", atLeast(1)),
	inert("remote.list.offsets.request.timeout.ms", TypeLong, "30000", true, false, "The maximum amount of time the server will wait for the remote list offsets request to complete.", atLeast(1)),
	inert("remote.log.manager.copier.thread.pool.size", TypeInt, "10", true, false, "Size of the thread pool used in scheduling tasks to copy segments.", atLeast(1)),
	inert("remote.log.manager.expiration.thread.pool.size", TypeInt, "10", true, false, "Size of the thread pool used in scheduling tasks to clean up the expired remote log segments.", atLeast(1)),
	inert("remote.log.manager.follower.thread.pool.size", TypeInt, "2", true, false, "Size of the thread pool used in scheduling follower tasks to read the highest-uploaded remote-offset for follower partitions.", atLeast(1)),
	inert("remote.log.reader.threads", TypeInt, "10", true, false, "Size of the thread pool that is allocated for handling remote log reads.", atLeast(1)),
	inert("follower.fetch.last.tiered.offset.enable", TypeBoolean, "false", true, false, "If the follower fetches the last tiered offset from the leader.", nil),
	// Coordinator write buffers (GroupCoordinatorConfig, ShareCoordinatorConfig).
	inert("group.coordinator.cached.buffer.max.bytes", TypeInt, "1048588", true, false, "The maximum buffer size that the GroupCoordinator will retain for reuse.", atLeast(512*1024)),
	inert("share.coordinator.cached.buffer.max.bytes", TypeInt, "1048588", true, false, "The maximum buffer size that the ShareCoordinator will retain for reuse.", atLeast(512*1024)),

	// Listener, SASL and SSL settings (DynamicListenerConfig): per-broker.
	inert("principal.builder.class", TypeClass, "org.apache.kafka.common.security.authenticator.DefaultKafkaPrincipalBuilder", true, true, "The fully qualified name of a class that implements the KafkaPrincipalBuilder interface, which is used to build the KafkaPrincipal object used during authorization.", nil),
	inert("sasl.mechanism.inter.broker.protocol", TypeString, "GSSAPI", true, true, "SASL mechanism used for inter-broker communication.", nil),
	inert("sasl.jaas.config", TypePassword, "", false, true, "JAAS login context parameters for SASL connections in the format used by JAAS configuration files.", nil),
	inert("sasl.kerberos.service.name", TypeString, "", false, true, "The Kerberos principal name that Kafka runs as.", nil),
	inert("sasl.kerberos.kinit.cmd", TypeString, "/usr/bin/kinit", true, true, "Kerberos kinit command path.", nil),
	inert("sasl.kerberos.ticket.renew.window.factor", TypeDouble, "0.8", true, true, "Login thread will sleep until the specified window factor of time from last refresh to ticket's expiry has been reached, at which time it will try to renew the ticket.", nil),
	inert("sasl.kerberos.ticket.renew.jitter", TypeDouble, "0.05", true, true, "Percentage of random jitter added to the renewal time.", nil),
	inert("sasl.kerberos.min.time.before.relogin", TypeLong, "60000", true, true, "Login thread sleep time between refresh attempts.", nil),
	inert("sasl.kerberos.principal.to.local.rules", TypeList, "DEFAULT", true, true, "A list of rules for mapping from principal names to short names (typically operating system usernames).", nil),
	inert("sasl.login.refresh.window.factor", TypeDouble, "0.8", true, true, "Login refresh thread will sleep until the specified window factor relative to the credential's lifetime has been reached, at which time it will try to refresh the credential.", betweenF(0.5, 1.0)),
	inert("sasl.login.refresh.window.jitter", TypeDouble, "0.05", true, true, "The maximum amount of random jitter relative to the credential's lifetime that is added to the login refresh thread's sleep time.", betweenF(0, 0.25)),
	inert("sasl.login.refresh.min.period.seconds", TypeShort, "60", true, true, "The desired minimum time for the login refresh thread to wait before refreshing a credential, in seconds.", between(0, 900)),
	inert("sasl.login.refresh.buffer.seconds", TypeShort, "300", true, true, "The amount of buffer time before credential expiration to maintain when refreshing a credential, in seconds.", between(0, 3600)),
	inert("ssl.protocol", TypeString, "TLSv1.3", true, true, "The SSL protocol used to generate the SSLContext.", nil),
	inert("ssl.provider", TypeString, "", false, true, "The name of the security provider used for SSL connections.", nil),
	inert("ssl.cipher.suites", TypeList, "", true, true, "A list of cipher suites.", nil),
	inert("ssl.enabled.protocols", TypeList, "TLSv1.2,TLSv1.3", true, true, "The list of protocols enabled for SSL connections.", nil),
	inert("ssl.keymanager.algorithm", TypeString, "SunX509", true, true, "The algorithm used by key manager factory for SSL connections.", nil),
	inert("ssl.trustmanager.algorithm", TypeString, "PKIX", true, true, "The algorithm used by trust manager factory for SSL connections.", nil),
	inert("ssl.endpoint.identification.algorithm", TypeString, "https", true, true, "The endpoint identification algorithm to validate server hostname using server certificate.", nil),
	inert("ssl.secure.random.implementation", TypeString, "", false, true, "The SecureRandom PRNG implementation to use for SSL cryptography operations.", nil),
	inert("ssl.engine.factory.class", TypeClass, "", false, true, "The class of type org.apache.kafka.common.security.auth.SslEngineFactory to provide SSLEngine objects.", nil),
}
