"""Free TCP ports on 127.0.0.1 for the servers tests start (shared by conftest and single tests)."""

from __future__ import annotations

import random
import socket


def free_base(offsets: tuple[int, ...], low: int = 20000, high: int = 29000) -> int:
    """A base port in ``[low, high)`` such that base + each offset is free on 127.0.0.1.

    Raises
    ------
    RuntimeError
        If 200 random bases all had a port taken.
    """
    for _ in range(200):
        base = random.randrange(low, high)
        socks = []
        try:
            for off in offsets:
                sock = socket.socket()
                socks.append(sock)
                sock.bind(("127.0.0.1", base + off))
            return base
        except OSError:
            continue
        finally:
            for sock in socks:
                sock.close()
    raise RuntimeError(f"no free ports in [{low}, {high}) for offsets {offsets}")
