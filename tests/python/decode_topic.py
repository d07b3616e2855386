"""Decode a unitrack Avro topic with Confluent's Python client, independently of unitrack.

Reads TOPIC from the beginning (read_committed) until COUNT records or TIMEOUT seconds,
decodes each value with confluent_kafka's AvroDeserializer through the schema registry,
and prints one JSON object per record: {"key": ..., "partition": ..., "value": {...}}.
"""

import argparse
import json
import sys
import time
import uuid

from confluent_kafka import Consumer
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer
from confluent_kafka.serialization import MessageField, SerializationContext


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--registry", required=True)
    parser.add_argument("--topic", required=True)
    parser.add_argument("--count", type=int, required=True)
    parser.add_argument("--timeout", type=float, default=60.0)
    args = parser.parse_args()

    deserializer = AvroDeserializer(SchemaRegistryClient({"url": args.registry}))
    consumer = Consumer(
        {
            "bootstrap.servers": args.bootstrap,
            "group.id": f"python-decoder-{uuid.uuid4()}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
            "isolation.level": "read_committed",
        }
    )
    consumer.subscribe([args.topic])
    decoded = 0
    deadline = time.monotonic() + args.timeout
    try:
        while decoded < args.count and time.monotonic() < deadline:
            message = consumer.poll(0.5)
            if message is None:
                continue
            if message.error():
                print(f"consumer error: {message.error()}", file=sys.stderr)
                return 2
            value = deserializer(
                message.value(), SerializationContext(message.topic(), MessageField.VALUE)
            )
            record = {
                "key": message.key().decode("utf-8") if message.key() else None,
                "partition": message.partition(),
                "value": value,
            }
            print(json.dumps(record, default=str), flush=True)
            decoded += 1
    finally:
        consumer.close()
    return 0 if decoded >= args.count else 1


if __name__ == "__main__":
    sys.exit(main())
