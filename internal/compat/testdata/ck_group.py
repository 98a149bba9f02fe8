"""Two confluent-kafka (librdkafka) consumers of one group in one process,
with the assignment strategy given (range or cooperative-sticky). Once
both own partitions, 300 records are produced; the consumers read them and
commit synchronously. Prints one JSON line."""
import json
import sys
import time

from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

bootstrap, strategy, topic, group = sys.argv[1:5]
partitions, n = 6, 300
result = {"strategy": strategy, "errors": [], "events": []}

admin = AdminClient({"bootstrap.servers": bootstrap})
for f in admin.create_topics([NewTopic(topic, num_partitions=partitions, replication_factor=1)]).values():
    f.result(timeout=30)

owned = {"c1": set(), "c2": set()}


def callbacks(name):
    def on_assign(c, parts):
        owned[name].update(p.partition for p in parts)
        result["events"].append([name, "assign", sorted(p.partition for p in parts)])

    def on_revoke(c, parts):
        owned[name].difference_update(p.partition for p in parts)
        result["events"].append([name, "revoke", sorted(p.partition for p in parts)])

    return on_assign, on_revoke


consumers = {}
for name in ("c1", "c2"):
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "auto.offset.reset": "earliest",
                  "enable.auto.commit": False, "partition.assignment.strategy": strategy,
                  "session.timeout.ms": 10000, "heartbeat.interval.ms": 500, "client.id": name})
    on_assign, on_revoke = callbacks(name)
    c.subscribe([topic], on_assign=on_assign, on_revoke=on_revoke)
    consumers[name] = c

consumed = {"c1": [], "c2": []}


def poll_all(timeout=0.1):
    for name, c in consumers.items():
        m = c.poll(timeout)
        if m is None:
            continue
        if m.error():
            result["errors"].append(str(m.error()))
            continue
        consumed[name].append([m.partition(), m.offset(), m.key().decode()])
        c.commit(message=m, asynchronous=False)


# Wait until the two own every partition between them, disjointly.
deadline = time.time() + 60
while time.time() < deadline:
    poll_all()
    if owned["c1"] and owned["c2"] and not (owned["c1"] & owned["c2"]) and len(owned["c1"] | owned["c2"]) == partitions:
        break
result["assigned"] = {name: sorted(ps) for name, ps in owned.items()}

acked = []


def cb(err, msg):
    if err is not None:
        result["errors"].append(str(err))
    else:
        acked.append([msg.partition(), msg.offset(), msg.key().decode()])


p = Producer({"bootstrap.servers": bootstrap, "acks": "all", "linger.ms": 5})
for i in range(n):
    p.produce(topic, key=f"k{i}", value=f"v{i}", partition=i % partitions, on_delivery=cb)
p.flush(30)
result["acked"] = acked

deadline = time.time() + 60
while time.time() < deadline and len(consumed["c1"]) + len(consumed["c2"]) < n:
    poll_all()
for _ in range(10):  # anything extra would be a duplicate
    poll_all()
result["consumed"] = consumed
result["owned_at_end"] = {name: sorted(ps) for name, ps in owned.items()}

committed = {}
for name, c in consumers.items():
    for tp in c.committed([TopicPartition(topic, i) for i in range(partitions)], timeout=10):
        committed[tp.partition] = tp.offset
result["committed"] = committed
for c in consumers.values():
    c.close()
print(json.dumps(result))
