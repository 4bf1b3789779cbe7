"""Print the live monitor's feed of global ids (ZeroMQ SUB, msgpack), one line per assignment.

    python pipelines/live_rtsp/subscribe.py                        # tcp://127.0.0.1:5556 until Ctrl-C
    python pipelines/live_rtsp/subscribe.py tcp://matcher.local:5556 --json --count 10

Each message of the matcher's ``matcher.publish`` socket is two frames: the topic ``b"id"`` and a
msgpack map ``{camera: AI City number, name: camera name, track: the camera's track id, global_id,
kind: "assign" (first id of an ended tracklet) or "revise" (changed by a later merge)}``. A SUB
socket sees only what is published after it connects; it reconnects by itself when the matcher
restarts.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import time


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="print the live feed of global ids")
    parser.add_argument("endpoint", nargs="?", default="tcp://127.0.0.1:5556", help="the matcher's publish address")
    parser.add_argument("--json", action="store_true", help="one JSON object per line (with a unix time 't')")
    parser.add_argument("--count", type=int, default=0, help="stop after this many messages (0: until Ctrl-C)")
    args = parser.parse_args(argv)

    import msgpack
    import zmq

    # Ctrl-C and a plain kill end it quietly, even when started from a shell that ignores them
    # (background jobs of a non-interactive shell inherit SIGINT ignored)
    for stop in (signal.SIGINT, signal.SIGTERM):
        signal.signal(stop, signal.default_int_handler)

    context = zmq.Context()
    socket = context.socket(zmq.SUB)
    socket.setsockopt(zmq.SUBSCRIBE, b"id")
    socket.connect(args.endpoint)
    seen = 0
    try:
        while not args.count or seen < args.count:
            # short polls: a stop signal is acted on within half a second
            if not socket.poll(500):
                continue
            _topic, payload = socket.recv_multipart()
            record = msgpack.unpackb(payload)
            seen += 1
            if args.json:
                print(json.dumps({"t": round(time.time(), 3), **record}), flush=True)
            else:
                stamp = time.strftime("%H:%M:%S")
                print(f"{stamp} {record['name']} track {record['track']} -> global id {record['global_id']} ({record['kind']})", flush=True)
    except KeyboardInterrupt:
        pass
    finally:
        context.destroy(linger=0)
    return 0


if __name__ == "__main__":
    sys.exit(main())
