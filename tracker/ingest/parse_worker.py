"""Entry point of one isolated parser worker: `python -m tracker.ingest.parse_worker FD MEMORY CPU [MARKER]`.

Started only by `tracker.ingest.isolation`, which hands it one end of a socket pair (FD) to serve on.
"""

from __future__ import annotations

import sys
from multiprocessing.connection import Connection

from tracker.ingest.isolation import Limits, serve


def main(argv: list[str]) -> None:
    fd, memory, cpu = int(argv[0]), int(argv[1]), int(argv[2])
    marker = bytes.fromhex(argv[3]) if len(argv) > 3 else None
    serve(Connection(fd), Limits(memory_bytes=memory, cpu_seconds=cpu), marker)


if __name__ == "__main__":
    main(sys.argv[1:])
