"""confluent-kafka (librdkafka) against a sluice broker: admin, idempotent
produce with every codec, consume by assignment. Prints one JSON line."""
import json
import sys

from confluent_kafka import Consumer, Producer, TopicPartition, OFFSET_BEGINNING
from confluent_kafka.admin import AdminClient, NewTopic

bootstrap = sys.argv[1]
n = 200
result = {"topics": {}}

admin = AdminClient({"bootstrap.servers": bootstrap})
codecs = ["none", "gzip", "snappy", "lz4", "zstd"]
futures = admin.create_topics([NewTopic(f"ck-{c}", num_partitions=2, replication_factor=1) for c in codecs])
for f in futures.values():
    f.result(timeout=30)
dup = admin.create_topics([NewTopic("ck-none", num_partitions=2, replication_factor=1)])
try:
    dup["ck-none"].result(timeout=30)
    result["duplicate_error"] = None
except Exception as e:  # KafkaException carrying TOPIC_ALREADY_EXISTS
    result["duplicate_error"] = e.args[0].name()

for codec in codecs:
    topic = f"ck-{codec}"
    acked = []
    errors = []

    def cb(err, msg):
        if err is not None:
            errors.append(str(err))
        else:
            acked.append([msg.partition(), msg.offset(), msg.key().decode()])

    p = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True, "acks": "all",
                  "compression.type": codec, "linger.ms": 5})
    for i in range(n):
        p.produce(topic, key=f"k{i}", value=f"v{i}", headers={"h": str(i)}, on_delivery=cb)
    p.flush(30)

    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "unused-assign-only",
                  "enable.auto.commit": False, "enable.partition.eof": True})
    c.assign([TopicPartition(topic, 0, OFFSET_BEGINNING), TopicPartition(topic, 1, OFFSET_BEGINNING)])
    seen = []
    eof = set()
    while len(eof) < 2:
        m = c.poll(10)
        if m is None:
            break
        if m.error():
            if m.error().code() == -191:  # _PARTITION_EOF
                eof.add(m.partition())
                continue
            errors.append(str(m.error()))
            break
        seen.append([m.partition(), m.offset(), m.key().decode(), m.value().decode(), dict(m.headers())["h"].decode()])
    c.close()
    result["topics"][topic] = {"acked": acked, "seen": seen, "errors": errors}

print(json.dumps(result))
