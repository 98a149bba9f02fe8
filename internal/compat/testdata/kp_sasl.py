"""kafka-python 2.0.2 over SASL_PLAINTEXT with PLAIN: produce, consume,
then a wrong password. Prints one JSON line; the Go test asserts on it.

usage: kp_sasl.py BOOTSTRAP USER PASSWORD
"""
import json
import sys

from kafka import KafkaConsumer, KafkaProducer
from kafka.errors import KafkaError

bootstrap, user, password = sys.argv[1:4]
topic = "kp-sasl"
n = 50


def conf(pw):
    return dict(bootstrap_servers=bootstrap, security_protocol="SASL_PLAINTEXT",
                sasl_mechanism="PLAIN", sasl_plain_username=user, sasl_plain_password=pw)


producer = KafkaProducer(acks="all", **conf(password))
acked = [producer.send(topic, key=f"k{i}".encode(), value=f"v{i}".encode()).get(timeout=30).offset for i in range(n)]
producer.close()

consumer = KafkaConsumer(topic, group_id=None, auto_offset_reset="earliest", consumer_timeout_ms=10000, **conf(password))
seen = [[m.key.decode(), m.value.decode()] for m in consumer]
consumer.close()

bad_error = None
try:
    KafkaProducer(request_timeout_ms=5000, max_block_ms=5000, **conf("wrong")).close()
    bad_error = "connected"
except KafkaError as e:
    bad_error = type(e).__name__

print(json.dumps({"acked": acked, "seen": seen, "bad_password_error": bad_error}))
