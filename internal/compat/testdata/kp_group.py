"""kafka-python 2.0.2 consumer groups against a sluice broker.

A KafkaConsumer in group kp-group consumes part of a topic and commits; a
second consumer of the same group resumes after the committed offsets.
Prints one JSON line; the Go test asserts on it.
"""
import json
import sys

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer
from kafka.admin import NewTopic

bootstrap = sys.argv[1]
topic = "kp-group-topic"
n = 90

admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="kp-admin")
admin.create_topics([NewTopic(name=topic, num_partitions=3, replication_factor=1)])
admin.close()

producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all")
for i in range(n):
    producer.send(topic, key=b"k%d" % i, value=b"v%d" % i, partition=i % 3).get(timeout=30)
producer.flush()
producer.close()


def consumer():
    return KafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id="kp-group",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        consumer_timeout_ms=8000,
        session_timeout_ms=10000,
        heartbeat_interval_ms=1000,
    )


first = []
c1 = consumer()
for msg in c1:
    first.append(msg.value.decode())
    if len(first) == 50:
        break
c1.commit()
committed = {str(tp.partition): c1.committed(tp) for tp in c1.assignment()}
c1.close()

second = []
c2 = consumer()
for msg in c2:
    second.append(msg.value.decode())
c2.close()

print(json.dumps({"first": first, "second": second, "committed": committed}))
