#!/usr/bin/env python3
"""Small helpers of dev/stack that are awkward in bash (standard library only).

    stack_helper.py topics CONFIG_TOML      topic specs NAME:PARTITIONS:RF:POLICY, one a line
    stack_helper.py kafka-ready HOST PORT   exit 0 if the broker answers a Metadata request
                                            listing at least one live broker
    stack_helper.py http-ok URL             exit 0 if GET URL answers 2xx (fallback for curl)
    stack_helper.py port-open HOST PORT     exit 0 if something accepts TCP connections there
    stack_helper.py cluster-id              a random Kafka cluster id (base64url of 16 bytes)
"""

import base64
import os
import socket
import struct
import sys
import tomllib
import urllib.request


def topics(config_path: str) -> int:
    with open(config_path, "rb") as f:
        cfg = tomllib.load(f)
    t = cfg["topics"]
    partitions = int(os.environ.get("UNITRACK_STACK_PARTITIONS") or t["partitions"])
    rf = int(t.get("replication_factor", 1))
    names = [t["raw_prefix"] + carrier for carrier in cfg["carriers"]["enabled"]]
    names += [t[key] for key in ("commands", "command_outcomes", "events", "status_changed", "dlq")]
    for name in names:
        print(f"{name}:{partitions}:{rf}:delete")
    print(f"{t['state_changelog']}:{partitions}:{rf}:compact")
    return 0


def _recv_exact(sock: socket.socket, n: int) -> bytes:
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise ConnectionError("connection closed by broker")
        buf += chunk
    return buf


def kafka_ready(host: str, port: str) -> int:
    """Sends a Metadata v4 request (no topics) and checks that the broker list is not empty."""
    client_id = b"unitrack-dev-stack"
    correlation_id = 7
    # Request header v1: api_key, api_version, correlation_id, client_id (int16-length string).
    header = struct.pack(">hhih", 3, 4, correlation_id, len(client_id)) + client_id
    # Metadata v4 body: topics = empty array (no topics), allow_auto_topic_creation = false.
    body = struct.pack(">ib", 0, 0)
    request = header + body
    try:
        with socket.create_connection((host, int(port)), timeout=3) as sock:
            sock.settimeout(3)
            sock.sendall(struct.pack(">i", len(request)) + request)
            (size,) = struct.unpack(">i", _recv_exact(sock, 4))
            response = _recv_exact(sock, size)
    except (OSError, ConnectionError):
        return 1
    # Response header v0: correlation_id; body v4: throttle_time_ms, brokers array, ...
    corr, _throttle, brokers = struct.unpack(">iii", response[:12])
    return 0 if corr == correlation_id and brokers > 0 else 1


def http_ok(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=3) as r:
            return 0 if 200 <= r.status < 300 else 1
    except Exception:  # noqa: BLE001 - any failure means "not answering"
        return 1


def port_open(host: str, port: str) -> int:
    try:
        with socket.create_connection((host, int(port)), timeout=1):
            return 0
    except OSError:
        return 1


def cluster_id() -> int:
    # Same shape as `kafka-storage.sh random-uuid`: 16 random bytes, base64url, no padding;
    # Kafka avoids ids that start with '-' (they look like command-line options).
    while True:
        cid = base64.urlsafe_b64encode(os.urandom(16)).rstrip(b"=").decode()
        if not cid.startswith("-"):
            print(cid)
            return 0


def main(argv: list[str]) -> int:
    commands = {
        "topics": (topics, 1),
        "kafka-ready": (kafka_ready, 2),
        "http-ok": (http_ok, 1),
        "port-open": (port_open, 2),
        "cluster-id": (cluster_id, 0),
    }
    if len(argv) < 1 or argv[0] not in commands or len(argv) - 1 != commands[argv[0]][1]:
        print(__doc__, file=sys.stderr)
        return 2
    fn, _ = commands[argv[0]]
    return fn(*argv[1:])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
