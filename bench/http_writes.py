"""One write per response against uvicorn's two (head, then body), on a bare uvloop server.

Why `server/one_write_http.py` exists: the same responses, written as `write(head);
write(body)` or as one `writelines([head, body])`, served to `wrk` on loopback. Prints
requests/s of each and the ratio, for a playlist-sized and a part-sized body.

    python -m bench.http_writes [--smoke]
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import re
import subprocess
import time

from bench import smoke
from tests.support.ports import free_port

SIZES = {"playlist": 640, "part": 125_000}
WRK_SECONDS = 4


def serve(port: int, mode: str, size: int, seconds: int, ready) -> None:
    import uvloop

    body = b"x" * size
    head = b"HTTP/1.1 200 OK\r\ncontent-length: %d\r\ncontent-type: video/iso.segment\r\n\r\n" % size

    class Responder(asyncio.Protocol):
        def connection_made(self, transport) -> None:
            self.transport = transport

        def data_received(self, data: bytes) -> None:
            for _ in range(data.count(b"\r\n\r\n")):
                if mode == "two writes":
                    self.transport.write(head)
                    self.transport.write(body)
                else:
                    self.transport.writelines([head, body])

    async def main() -> None:
        await asyncio.get_running_loop().create_server(Responder, "127.0.0.1", port)
        ready.set()
        await asyncio.sleep(seconds + 5)

    uvloop.run(main())


def requests_per_second(mode: str, size: int, seconds: int) -> float:
    port, ready = free_port(), multiprocessing.Event()
    server = multiprocessing.Process(target=serve, args=(port, mode, size, seconds, ready))
    server.start()
    try:
        ready.wait(10)
        out = subprocess.run(
            ["wrk", "-t2", "-c64", f"-d{seconds}s", f"http://127.0.0.1:{port}/"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        return float(re.search(r"Requests/sec:\s+([0-9.]+)", out).group(1))
    finally:
        server.terminate()
        server.join()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    smoke.add_flag(parser)
    seconds = 1 if parser.parse_args().smoke else WRK_SECONDS
    for name, size in SIZES.items():
        two = requests_per_second("two writes", size, seconds)
        time.sleep(0.5)
        one = requests_per_second("one write", size, seconds)
        print(
            f"{name:8} ({size:6d} B): two writes {two:8.0f} req/s, one write {one:8.0f} req/s → ratio {one / two:.2f}"
        )


if __name__ == "__main__":
    main()
