"""The seed tutorial's Avro cells through sluice's schema registry, in
Python: kafka-python produces User records (user.avsc) in Confluent's wire
format, the schema registered with confluent-kafka's SchemaRegistryClient
and the payload encoded with python3-avro (Debian has no fastavro, so
confluent-kafka's AvroSerializer cannot run); a kafka-python consumer reads
them back, fetches each writer schema by the id in the framing with
SchemaRegistryClient and decodes with python3-avro. A second schema version
(an optional email) is registered and written too, so the reader meets two
ids. Prints one JSON object; registry_python_avro_test.go asserts on it and
decodes the same records in Go.

Usage: kp_registry_avro.py BOOTSTRAP REGISTRY_URL DIR   (DIR holds user.avsc)
"""
import json
import struct
import sys
from io import BytesIO

import avro.io
import avro.schema
from confluent_kafka.schema_registry import Schema, SchemaRegistryClient
from kafka import KafkaConsumer, KafkaProducer
from kafka.admin import KafkaAdminClient, NewTopic

bootstrap, registry_url, data_dir = sys.argv[1:4]
topic = "py_avro_users"
subject = topic + "-value"
out = {}
registry = SchemaRegistryClient({"url": registry_url})

admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="test")
admin.create_topics(new_topics=[NewTopic(name=topic, num_partitions=1, replication_factor=1)], validate_only=False)
admin.close()

# Register user.avsc, then a compatible v2 with an optional email.
user_avsc = open(data_dir + "/user.avsc").read()
v2 = json.loads(user_avsc)
v2["fields"].append({"name": "email", "type": ["null", "string"], "default": None})
v2_avsc = json.dumps(v2)
ids = [registry.register_schema(subject, Schema(user_avsc, "AVRO")),
       registry.register_schema(subject, Schema(v2_avsc, "AVRO"))]
out["ids"] = ids
out["versions"] = registry.get_versions(subject)


def confluent_avro(schema_id, schema_text, value):
    """Confluent's framing: magic byte 0, the 4-byte big-endian schema id,
    then the Avro binary encoding."""
    buf = BytesIO()
    buf.write(struct.pack(">bI", 0, schema_id))
    avro.io.DatumWriter(avro.schema.parse(schema_text)).write(value, avro.io.BinaryEncoder(buf))
    return buf.getvalue()


sent = [
    (ids[0], user_avsc, {"first_name": "John", "last_name": "Doe", "age": 30}),
    (ids[0], user_avsc, {"first_name": "Jane", "last_name": "Roe", "age": 41}),
    (ids[1], v2_avsc, {"first_name": "Max", "last_name": "Mustermann", "age": 52, "email": "max@example.com"}),
]
producer = KafkaProducer(bootstrap_servers=bootstrap)
for schema_id, text, value in sent:
    producer.send(topic, key=value["first_name"].encode(), value=confluent_avro(schema_id, text, value))
producer.flush()
producer.close()

# The consumer knows no schema: it reads the id from each value and asks
# the registry (once per id).
consumer = KafkaConsumer(topic, bootstrap_servers=bootstrap, group_id="tester",
                         auto_offset_reset="earliest", consumer_timeout_ms=15000)
schemas = {}
got = []
for message in consumer:
    magic, schema_id = struct.unpack(">bI", message.value[:5])
    if schema_id not in schemas:
        schemas[schema_id] = avro.schema.parse(registry.get_schema(schema_id).schema_str)
    value = avro.io.DatumReader(schemas[schema_id]).read(avro.io.BinaryDecoder(BytesIO(message.value[5:])))
    got.append({"offset": message.offset, "key": message.key.decode(), "magic": magic, "schema_id": schema_id,
                "value": value, "hex": message.value.hex()})
    if len(got) == len(sent):
        break
consumer.commit()
consumer.close()
out["consumed"] = got
out["fetched_ids"] = sorted(schemas)
print(json.dumps(out))
