"""A user-space DNS delay relay, run inside a node in front of its DNS server (the kernel
here has no netem). Each query waits `delay ± jitter` ms before it is passed on, so a
resolver behind it sees the added round-trip time; answers go back at once. TCP queries are
passed through with the same delay on the connection's first segment.

    python -m labsim.node.relay --listen ADDR ... --port 53 --to-port 5300 --delay-ms 50 --jitter-ms 5 \
        --user nobody --group nogroup

It drops root to --user once port 53 is bound (what the authdns kind passes).
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import random
import socket

from labsim.node.privdrop import drop_root, user_args


class UdpRelay(asyncio.DatagramProtocol):
    def __init__(self, upstream: tuple[str, int], delay: float, jitter: float):
        self.upstream, self.delay, self.jitter = upstream, delay, jitter
        self.transport: asyncio.DatagramTransport | None = None

    # a datagram endpoint's transport, though asyncio's own class does not derive from
    # DatagramTransport (so no isinstance); typeshed types the base method with BaseTransport
    def connection_made(self, transport: asyncio.DatagramTransport) -> None:  # type: ignore[override]
        self.transport = transport

    def datagram_received(self, data: bytes, client: tuple[str, int]) -> None:
        wait = max(0.0, self.delay + random.uniform(-self.jitter, self.jitter)) / 1000
        asyncio.get_running_loop().call_later(wait, lambda: asyncio.ensure_future(self._forward(data, client)))

    async def _forward(self, data: bytes, client: tuple[str, int]) -> None:
        loop = asyncio.get_running_loop()
        fam = socket.AF_INET6 if ":" in self.upstream[0] else socket.AF_INET
        with socket.socket(fam, socket.SOCK_DGRAM) as s:
            s.setblocking(False)
            await loop.sock_connect(s, self.upstream)
            await loop.sock_sendall(s, data)
            try:
                reply = await asyncio.wait_for(loop.sock_recv(s, 65535), 10)
            except TimeoutError:
                return
        if self.transport is not None:  # set by connection_made, before any datagram
            self.transport.sendto(reply, client)


async def tcp_relay(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, upstream: tuple[str, int],
                    delay: float, jitter: float) -> None:
    await asyncio.sleep(max(0.0, delay + random.uniform(-jitter, jitter)) / 1000)
    try:
        up_reader, up_writer = await asyncio.open_connection(*upstream)
    except OSError:
        writer.close()
        return

    async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
        try:
            while data := await src.read(65535):
                dst.write(data)
                await dst.drain()
        except OSError:
            pass
        finally:
            dst.close()

    await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))


async def serve(listen: list[str], port: int, to_port: int, delay: float, jitter: float,
                user: str | None = None, group: str | None = None) -> None:
    loop = asyncio.get_running_loop()
    for addr in listen:
        upstream = ("::1" if ":" in addr else "127.0.0.1", to_port)
        fam = socket.AF_INET6 if ":" in addr else socket.AF_INET
        await loop.create_datagram_endpoint(functools.partial(UdpRelay, upstream, delay, jitter),
                                            local_addr=(addr, port), family=fam)
        await asyncio.start_server(functools.partial(tcp_relay, upstream=upstream, delay=delay, jitter=jitter),
                                   addr, port)
    # port 53 bound on every address: passing queries on to the server's high port needs no root
    drop_root(user, group)
    print(f"relay: {', '.join(listen)} :{port} -> :{to_port}, +{delay}±{jitter} ms", flush=True)
    await asyncio.Event().wait()


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--listen", action="append", required=True)
    ap.add_argument("--port", type=int, default=53)
    ap.add_argument("--to-port", type=int, required=True)
    ap.add_argument("--delay-ms", type=float, default=0.0)
    ap.add_argument("--jitter-ms", type=float, default=0.0)
    user_args(ap)
    a = ap.parse_args(argv)
    asyncio.run(serve(a.listen, a.port, a.to_port, a.delay_ms, a.jitter_ms, a.user, a.group))


if __name__ == "__main__":
    main()
