"""confluent-kafka's schema_registry module (Debian's python3-confluent-kafka)
against sluice's built-in schema registry: register, get latest, lookup,
ProtobufSerializer and JSONSerializer round trips through a topic, and the
compatibility error of an incompatible change. Prints one JSON line."""
import json
import sys

from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import AdminClient, NewTopic
from confluent_kafka.schema_registry import Schema, SchemaRegistryClient
from confluent_kafka.schema_registry.error import SchemaRegistryError
from confluent_kafka.schema_registry.json_schema import JSONDeserializer, JSONSerializer
from confluent_kafka.schema_registry.protobuf import ProtobufDeserializer, ProtobufSerializer
from confluent_kafka.serialization import MessageField, SerializationContext
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory, timestamp_pb2

bootstrap, registry_url = sys.argv[1], sys.argv[2]
out = {}
src = SchemaRegistryClient({"url": registry_url})

# Avro: register, latest, lookup, compatibility error.
v1 = Schema('{"type":"record","name":"User","fields":[{"name":"name","type":"string"}]}', "AVRO")
out["avro_id"] = src.register_schema("py-avro-value", v1)
v2 = Schema('{"type":"record","name":"User","fields":[{"name":"name","type":"string"},'
            '{"name":"age","type":"int","default":0}]}', "AVRO")
out["avro_id2"] = src.register_schema("py-avro-value", v2)
latest = src.get_latest_version("py-avro-value")
out["latest"] = {"id": latest.schema_id, "version": latest.version, "schema": latest.schema.schema_str}
out["lookup_version"] = src.lookup_schema("py-avro-value", v1).version
out["subjects"] = sorted(src.get_subjects())
out["versions"] = src.get_versions("py-avro-value")
out["compatible_v2"] = src.test_compatibility("py-avro-value", v2)
bad = Schema('{"type":"record","name":"User","fields":[{"name":"name","type":"int"}]}', "AVRO")
out["compatible_bad"] = src.test_compatibility("py-avro-value", bad)
try:
    src.register_schema("py-avro-value", bad)
    out["incompatible_error"] = None
except SchemaRegistryError as e:
    out["incompatible_error"] = {"status": e.http_status_code, "code": e.error_code}
try:
    src.get_version("py-avro-value", 42)
    out["missing_version_error"] = None
except SchemaRegistryError as e:
    out["missing_version_error"] = {"status": e.http_status_code, "code": e.error_code}
src.set_compatibility("py-avro-value", "FULL")
out["compatibility"] = src.get_compatibility("py-avro-value")
by_id = src.get_schema(out["avro_id"])
out["by_id_schema"] = by_id.schema_str

admin = AdminClient({"bootstrap.servers": bootstrap})
for f in admin.create_topics([NewTopic(t, num_partitions=1, replication_factor=1) for t in ("py-proto", "py-json")]).values():
    f.result(timeout=30)


def roundtrip(topic, serializer, deserializer, values):
    p = Producer({"bootstrap.servers": bootstrap})
    for v in values:
        p.produce(topic, value=serializer(v, SerializationContext(topic, MessageField.VALUE)))
    p.flush(30)
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "py-" + topic, "auto.offset.reset": "earliest"})
    c.subscribe([topic])
    got = []
    while len(got) < len(values):
        m = c.poll(30)
        if m is None:
            raise SystemExit("timed out consuming " + topic)
        if m.error():
            raise SystemExit(str(m.error()))
        got.append((m.value()[:5].hex(), deserializer(m.value(), SerializationContext(topic, MessageField.VALUE))))
    c.close()
    return got


# Protobuf: a message built at run time (no protoc), importing a well-known type.
fdp = descriptor_pb2.FileDescriptorProto(name="order.proto", package="shop", syntax="proto3",
                                         dependency=["google/protobuf/timestamp.proto"])
msg = fdp.message_type.add(name="Order")
msg.field.add(name="id", number=1, type=descriptor_pb2.FieldDescriptorProto.TYPE_INT64,
              label=descriptor_pb2.FieldDescriptorProto.LABEL_OPTIONAL)
msg.field.add(name="item", number=2, type=descriptor_pb2.FieldDescriptorProto.TYPE_STRING,
              label=descriptor_pb2.FieldDescriptorProto.LABEL_OPTIONAL)
msg.field.add(name="at", number=3, type=descriptor_pb2.FieldDescriptorProto.TYPE_MESSAGE,
              type_name=".google.protobuf.Timestamp", label=descriptor_pb2.FieldDescriptorProto.LABEL_OPTIONAL)
pool = descriptor_pool.Default()
_ = timestamp_pb2.Timestamp
pool.Add(fdp)
Order = message_factory.MessageFactory(pool).GetPrototype(pool.FindMessageTypeByName("shop.Order"))
orders = [Order(id=i, item="item-%d" % i) for i in range(5)]
orders[0].at.seconds = 1700000000
ps = ProtobufSerializer(Order, src)
pd = ProtobufDeserializer(Order)
got = roundtrip("py-proto", ps, pd, orders)
out["proto_roundtrip"] = [g == o for (_, g), o in zip(got, orders)]
out["proto_headers"] = sorted({h for h, _ in got})
out["proto_latest"] = src.get_latest_version("py-proto-value").schema.schema_type
out["proto_refs"] = [(r["name"], r["subject"]) for r in src.get_latest_version("py-proto-value").schema.references]

# JSON Schema.
js = json.dumps({"$schema": "http://json-schema.org/draft-07/schema#", "title": "Reading", "type": "object",
                 "properties": {"sensor": {"type": "string"}, "value": {"type": "number"}},
                 "required": ["sensor", "value"]})
readings = [{"sensor": "s%d" % i, "value": i * 1.5} for i in range(5)]
jser = JSONSerializer(js, src, to_dict=lambda o, ctx: o)
jdes = JSONDeserializer(js, from_dict=lambda d, ctx: d)
got = roundtrip("py-json", jser, jdes, readings)
out["json_roundtrip"] = [g == o for (_, g), o in zip(got, readings)]
out["json_headers"] = sorted({h for h, _ in got})
# A required property added without a default to an open model: refused.
js_bad = json.dumps({"type": "object", "properties": {"sensor": {"type": "string"}, "value": {"type": "string"}},
                     "required": ["sensor", "value"]})
try:
    src.register_schema("py-json-value", Schema(js_bad, "JSON"))
    out["json_incompatible_error"] = None
except SchemaRegistryError as e:
    out["json_incompatible_error"] = {"status": e.http_status_code, "code": e.error_code}

print(json.dumps(out))
