"""confluent-kafka (librdkafka) over SASL_SSL with SCRAM: produce, consume,
then a wrong password. Prints one JSON line; the Go test asserts on it.

usage: ck_sasl.py BOOTSTRAP CA_FILE MECHANISM USER PASSWORD
"""
import json
import sys

from confluent_kafka import Consumer, Producer

bootstrap, ca, mech, user, password = sys.argv[1:6]
topic = "ck-sasl-" + mech.lower()
n = 100


def conf(pw):
    return {
        "bootstrap.servers": bootstrap,
        "security.protocol": "SASL_SSL",
        "sasl.mechanisms": mech,
        "sasl.username": user,
        "sasl.password": pw,
        "ssl.ca.location": ca,
    }


acked, errors = [], []


def on_delivery(err, msg):
    if err is not None:
        errors.append(str(err))
    else:
        acked.append([msg.partition(), msg.offset()])


p = Producer({**conf(password), "acks": "all"})
for i in range(n):
    p.produce(topic, key=f"k{i}", value=f"v{i}", on_delivery=on_delivery)
p.flush(60)

c = Consumer({**conf(password), "group.id": "ck-sasl", "auto.offset.reset": "earliest", "enable.auto.commit": False})
c.subscribe([topic])
seen = []
while len(seen) < n:
    m = c.poll(20)
    if m is None:
        break
    if m.error():
        errors.append(str(m.error()))
        continue
    seen.append([m.key().decode(), m.value().decode()])
c.close()

bad_errors = []
bad = Producer({**conf("wrong-password"), "error_cb": lambda e: bad_errors.append(e.name())})
for _ in range(20):
    bad.poll(0.5)
    if bad_errors:
        break
bad_error = bad_errors[0] if bad_errors else None

print(json.dumps({"acked": len(acked), "seen": seen, "errors": errors, "bad_password_error": bad_error}))
