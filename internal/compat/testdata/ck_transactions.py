"""confluent-kafka (librdkafka) transactions against a sluice broker:
commit, abort, send_offsets_to_transaction (consume-transform-produce),
and what read_committed and read_uncommitted consumers see. Prints one
JSON line."""
import json
import sys

from confluent_kafka import Consumer, Producer, TopicPartition, OFFSET_BEGINNING
from confluent_kafka.admin import AdminClient, NewTopic

bootstrap = sys.argv[1]
result = {"errors": []}

admin = AdminClient({"bootstrap.servers": bootstrap})
for f in admin.create_topics([NewTopic(t, num_partitions=2, replication_factor=1)
                              for t in ("ckt-in", "ckt-out")]).values():
    f.result(timeout=30)

plain = Producer({"bootstrap.servers": bootstrap})
for i in range(10):
    plain.produce("ckt-in", key=f"k{i}", value=f"in-{i}")
plain.flush(30)

p = Producer({"bootstrap.servers": bootstrap, "transactional.id": "ck-txn", "linger.ms": 5})
p.init_transactions(30)
p.begin_transaction()
for i in range(5):
    p.produce("ckt-out", key=f"c{i}", value=f"commit-{i}")
p.commit_transaction(30)
p.begin_transaction()
for i in range(5):
    p.produce("ckt-out", key=f"a{i}", value=f"abort-{i}")
p.flush(30)
p.abort_transaction(30)

# Consume-transform-produce with the offsets in the transaction.
c = Consumer({"bootstrap.servers": bootstrap, "group.id": "ckt-group", "enable.auto.commit": False,
              "auto.offset.reset": "earliest", "isolation.level": "read_committed"})
c.subscribe(["ckt-in"])
got = []
while len(got) < 10:
    m = c.poll(15)
    if m is None:
        result["errors"].append("timed out consuming ckt-in")
        break
    if m.error():
        result["errors"].append(str(m.error()))
        break
    got.append(m)
p.begin_transaction()
for m in got:
    p.produce("ckt-out", key=m.key(), value=b"xf-" + m.value())
p.send_offsets_to_transaction(c.position(c.assignment()), c.consumer_group_metadata(), 30)
p.commit_transaction(30)
committed = c.committed([TopicPartition("ckt-in", 0), TopicPartition("ckt-in", 1)], timeout=30)
result["committed"] = sum(tp.offset for tp in committed if tp.offset >= 0)
c.close()


def read_all(isolation):
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "ckt-reader-" + isolation,
                  "enable.auto.commit": False, "enable.partition.eof": True,
                  "isolation.level": isolation})
    c.assign([TopicPartition("ckt-out", 0, OFFSET_BEGINNING), TopicPartition("ckt-out", 1, OFFSET_BEGINNING)])
    vals, eof = [], set()
    while len(eof) < 2:
        m = c.poll(10)
        if m is None:
            result["errors"].append("timed out reading ckt-out " + isolation)
            break
        if m.error():
            if m.error().code() == -191:  # _PARTITION_EOF
                eof.add(m.partition())
                continue
            result["errors"].append(str(m.error()))
            break
        vals.append(m.value().decode())
    c.close()
    return sorted(vals)


result["read_committed"] = read_all("read_committed")
result["read_uncommitted"] = read_all("read_uncommitted")
print(json.dumps(result))
