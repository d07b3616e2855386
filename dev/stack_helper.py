#!/usr/bin/env python3
"""Small helpers of dev/stack that are awkward in bash (standard library only).

    stack_helper.py topics CONFIG_TOML      topic specs NAME:PARTITIONS:RF:POLICY, one a line
    stack_helper.py kafka-ready HOST PORT   exit 0 if the broker answers a Metadata request
                                            listing at least one live broker
    stack_helper.py http-ok URL             exit 0 if GET URL answers 2xx (fallback for curl)
    stack_helper.py port-open HOST PORT     exit 0 if something accepts TCP connections there
    stack_helper.py cluster-id              a random Kafka cluster id (base64url of 16 bytes)
    stack_helper.py apicurio-info HOME      facts about an unpacked Apicurio Registry app:
                                            jar=<jar to run> java=<minimum Java release>
                                            management=<1 if health is on a separate port>
"""

import base64
import glob
import os
import socket
import struct
import sys
import tomllib
import urllib.request
import zipfile


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


def apicurio_info(home: str) -> int:
    """Finds the jar to run and the Java release its own classes need (they may need a newer
    Java than their libraries: Apicurio Registry 3.1+ is compiled for Java 21)."""
    run_jar = os.path.join(home, "quarkus-run.jar")  # fast-jar layout (3.1+)
    if os.path.isfile(run_jar):
        app_jars = glob.glob(os.path.join(home, "app", "*.jar"))
    else:  # legacy layout (3.0.x): one *-runner.jar plus lib/
        runners = glob.glob(os.path.join(home, "*-runner.jar"))
        if len(runners) != 1:
            print(f"no quarkus-run.jar nor a single *-runner.jar in {home}", file=sys.stderr)
            return 1
        run_jar = runners[0]
        app_jars = runners
    major = 0
    management = False
    for jar in app_jars:
        with zipfile.ZipFile(jar) as z:
            for name in z.namelist():
                if name.startswith("io/apicurio/") and name.endswith(".class"):
                    with z.open(name) as f:
                        head = f.read(8)
                    if head[:4] == b"\xca\xfe\xba\xbe":
                        major = max(major, struct.unpack(">H", head[6:8])[0])
                elif name == "application.properties":
                    props = z.read(name).decode("utf-8", "replace").splitlines()
                    management = "quarkus.management.enabled=true" in (p.strip() for p in props)
    print(f"jar={run_jar}")
    print(f"java={max(major - 44, 8)}")
    print(f"management={int(management)}")
    return 0


def main(argv: list[str]) -> int:
    commands = {
        "topics": (topics, 1),
        "kafka-ready": (kafka_ready, 2),
        "http-ok": (http_ok, 1),
        "port-open": (port_open, 2),
        "cluster-id": (cluster_id, 0),
        "apicurio-info": (apicurio_info, 1),
    }
    if len(argv) < 1 or argv[0] not in commands or len(argv) - 1 != commands[argv[0]][1]:
        print(__doc__, file=sys.stderr)
        return 2
    fn, _ = commands[argv[0]]
    return fn(*argv[1:])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
