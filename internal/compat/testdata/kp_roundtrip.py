"""kafka-python 2.0.2 against a sluice broker: admin, produce, consume.

Prints one JSON line with what it saw; the Go test asserts on it.
"""
import json
import sys

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import NewTopic

bootstrap = sys.argv[1]
topic = "kp-topic"
n = 300

admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="kp-admin")
admin.create_topics([NewTopic(name=topic, num_partitions=3, replication_factor=1)])
topics = admin.list_topics()
admin.close()

producer = KafkaProducer(
    bootstrap_servers=bootstrap,
    acks="all",
    key_serializer=str.encode,
    value_serializer=lambda v: json.dumps(v).encode(),
    compression_type="gzip",
)
acked = []
for i in range(n):
    md = producer.send(topic, key=f"k{i}", value={"i": i}, headers=[("h", str(i).encode())]).get(timeout=30)
    acked.append((md.partition, md.offset))
producer.flush()
producer.close()

consumer = KafkaConsumer(
    bootstrap_servers=bootstrap,
    group_id=None,
    auto_offset_reset="earliest",
    enable_auto_commit=False,
    consumer_timeout_ms=10000,
    value_deserializer=lambda b: json.loads(b.decode()),
)
parts = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic))]
consumer.assign(parts)
consumer.seek_to_beginning(*parts)
seen = []
for msg in consumer:
    hdr = dict(msg.headers)
    seen.append({"p": msg.partition, "o": msg.offset, "k": msg.key.decode(), "i": msg.value["i"], "h": hdr["h"].decode()})
    if len(seen) == n:
        break
end = consumer.end_offsets(parts)
consumer.close()

print(json.dumps({
    "topics": sorted(topics),
    "acked": acked,
    "seen": seen,
    "end": {str(tp.partition): off for tp, off in end.items()},
}))
