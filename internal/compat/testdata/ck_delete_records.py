"""Delete records with confluent-kafka's engine, then read the watermarks.

With confluent-kafka-python >= 2.4 this uses AdminClient.delete_records.
Older bindings (Debian's 1.7) lack it, so the same librdkafka the binding
loads (Debian's 2.0.2 has rd_kafka_DeleteRecords) is driven directly
through its C admin API with ctypes. The watermarks afterwards come from
the binding's Consumer.get_watermark_offsets (ListOffsets).

Usage: ck_delete_records.py BOOTSTRAP TOPIC PARTITION:OFFSET...
(OFFSET -1 means up to the high watermark). Prints one JSON object on
stdout: per requested partition the low watermark DeleteRecords returned
or its error, and per partition the watermarks read afterwards.
"""
import ctypes
import json
import sys

import confluent_kafka
from confluent_kafka import admin


class Python:
    """confluent-kafka-python's AdminClient (2.4+)."""

    def __init__(self, bootstrap):
        self.a = admin.AdminClient({"bootstrap.servers": bootstrap})

    def delete(self, topic, before):
        fs = self.a.delete_records([confluent_kafka.TopicPartition(topic, p, o) for p, o in before])
        out = []
        for tp, f in sorted(fs.items(), key=lambda kv: kv[0].partition):
            try:
                out.append({"partition": tp.partition, "low_watermark": f.result().low_watermark, "error": None})
            except confluent_kafka.KafkaException as e:
                out.append({"partition": tp.partition, "low_watermark": -1, "error": e.args[0].name()})
        return out


class TopicPartition(ctypes.Structure):
    # rd_kafka_topic_partition_t, stable since librdkafka 0.9.
    _fields_ = [
        ("topic", ctypes.c_char_p),
        ("partition", ctypes.c_int32),
        ("offset", ctypes.c_int64),
        ("metadata", ctypes.c_void_p),
        ("metadata_size", ctypes.c_size_t),
        ("opaque", ctypes.c_void_p),
        ("err", ctypes.c_int),
        ("_private", ctypes.c_void_p),
    ]


class TopicPartitionList(ctypes.Structure):
    _fields_ = [("cnt", ctypes.c_int), ("size", ctypes.c_int), ("elems", ctypes.POINTER(TopicPartition))]


class C:
    """librdkafka's C admin API through ctypes."""

    def __init__(self, bootstrap):
        lib = ctypes.CDLL("librdkafka.so.1")
        vp, cp, sz = ctypes.c_void_p, ctypes.c_char_p, ctypes.c_size_t
        tpl = ctypes.POINTER(TopicPartitionList)
        for name, res, args in [
            ("rd_kafka_conf_new", vp, []),
            ("rd_kafka_conf_set", ctypes.c_int, [vp, cp, cp, cp, sz]),
            ("rd_kafka_new", vp, [ctypes.c_int, vp, cp, sz]),
            ("rd_kafka_destroy", None, [vp]),
            ("rd_kafka_queue_new", vp, [vp]),
            ("rd_kafka_queue_destroy", None, [vp]),
            ("rd_kafka_queue_poll", vp, [vp, ctypes.c_int]),
            ("rd_kafka_event_error", ctypes.c_int, [vp]),
            ("rd_kafka_event_error_string", cp, [vp]),
            ("rd_kafka_event_destroy", None, [vp]),
            ("rd_kafka_err2name", cp, [ctypes.c_int]),
            ("rd_kafka_topic_partition_list_new", tpl, [ctypes.c_int]),
            ("rd_kafka_topic_partition_list_add", ctypes.POINTER(TopicPartition), [tpl, cp, ctypes.c_int32]),
            ("rd_kafka_topic_partition_list_destroy", None, [tpl]),
            ("rd_kafka_DeleteRecords_new", vp, [tpl]),
            ("rd_kafka_DeleteRecords_destroy", None, [vp]),
            ("rd_kafka_DeleteRecords", None, [vp, ctypes.POINTER(vp), sz, vp, vp]),
            ("rd_kafka_event_DeleteRecords_result", vp, [vp]),
            ("rd_kafka_DeleteRecords_result_offsets", tpl, [vp]),
        ]:
            f = getattr(lib, name)
            f.restype, f.argtypes = res, args
        self.lib = lib
        err = ctypes.create_string_buffer(512)
        conf = lib.rd_kafka_conf_new()
        if lib.rd_kafka_conf_set(conf, b"bootstrap.servers", bootstrap.encode(), err, 512) != 0:
            raise RuntimeError(err.value)
        self.rk = lib.rd_kafka_new(0, conf, err, 512)  # a producer handle
        if not self.rk:
            raise RuntimeError(err.value)
        self.q = lib.rd_kafka_queue_new(self.rk)

    def delete(self, topic, before):
        l = self.lib
        offsets = l.rd_kafka_topic_partition_list_new(len(before))
        for p, o in before:
            l.rd_kafka_topic_partition_list_add(offsets, topic.encode(), p).contents.offset = o
        dr = l.rd_kafka_DeleteRecords_new(offsets)  # copies the list
        l.rd_kafka_topic_partition_list_destroy(offsets)
        l.rd_kafka_DeleteRecords(self.rk, (ctypes.c_void_p * 1)(dr), 1, None, self.q)
        l.rd_kafka_DeleteRecords_destroy(dr)
        ev = l.rd_kafka_queue_poll(self.q, 60000)
        if not ev:
            raise RuntimeError("no DeleteRecords result within 60s")
        if l.rd_kafka_event_error(ev):
            raise RuntimeError(l.rd_kafka_event_error_string(ev).decode())
        res = l.rd_kafka_DeleteRecords_result_offsets(l.rd_kafka_event_DeleteRecords_result(ev)).contents
        out = []
        for i in range(res.cnt):
            e = res.elems[i]
            out.append({"partition": e.partition, "low_watermark": e.offset,
                        "error": l.rd_kafka_err2name(e.err).decode() if e.err else None})
        l.rd_kafka_event_destroy(ev)
        l.rd_kafka_queue_destroy(self.q)
        l.rd_kafka_destroy(self.rk)
        return sorted(out, key=lambda r: r["partition"])


def main():
    bootstrap, topic = sys.argv[1], sys.argv[2]
    before = [(int(p), int(o)) for p, o in (a.split(":") for a in sys.argv[3:])]
    b = Python(bootstrap) if hasattr(admin.AdminClient, "delete_records") else C(bootstrap)
    deleted = b.delete(topic, before)
    c = confluent_kafka.Consumer({"bootstrap.servers": bootstrap, "group.id": "ck-delete-records"})
    parts = c.list_topics(topic, timeout=30).topics[topic].partitions
    marks = {p: list(c.get_watermark_offsets(confluent_kafka.TopicPartition(topic, p), timeout=30)) for p in sorted(parts)}
    c.close()
    print(json.dumps({"api": type(b).__name__, "versions": [confluent_kafka.version()[0], confluent_kafka.libversion()[0]],
                      "deleted": deleted, "watermarks": marks}))


main()
