"""moto's server as the cloudapi kind runs it: what `python -m moto.server -H HOST -p PORT -c
CERT -k KEY` does, with root dropped once the port is bound and the key is read.

    python -m labsim.kinds.cloudserve --host :: --port 443 --cert C --key K --user nobody --group nogroup

moto's own main binds inside werkzeug's run_simple, so there is no point between bind and
serve to drop root at. Here the port is bound as root, root is dropped, and only then does
the socket listen and werkzeug's make_server take it (`fd`: no bind of its own, and none of
its reverse lookup of the host's name): a readiness probe's connection means root is gone.
moto imports a service's backend (and the standard library modules it uses) on its first
request, after the drop; importing all 160 backends first would take seconds of every lab's
start. So Python's own library, moto's and
werkzeug's must be open to others: when one is not (a Python under /root, mode 0700) the
server stays root and says so on its log, rather than fail every request.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import ssl
import stat
import sys

from labsim.node.privdrop import drop_root, user_args


def unreadable_dir(path: str) -> str | None:
    """The first directory on `path` (a package directory) that others cannot enter or list."""
    path = os.path.realpath(path)
    parts = path.split(os.sep)
    for i in range(2, len(parts) + 1):
        d = os.sep.join(parts[:i])
        need = stat.S_IXOTH | (stat.S_IROTH if d == path else 0)
        if os.stat(d).st_mode & need != need:
            return d
    return None


def import_dirs() -> list[str]:
    """Where moto's late imports come from: Python's library, moto, werkzeug."""
    import moto
    import werkzeug
    return [os.path.dirname(f) for m in (os, moto, werkzeug) if (f := m.__file__)]


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="labsim.kinds.cloudserve", description=__doc__.splitlines()[0])
    ap.add_argument("--host", required=True)
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--cert", required=True)
    ap.add_argument("--key", required=True)
    user_args(ap)
    args = ap.parse_args(argv)
    os.environ.setdefault("MOTO_PORT", str(args.port))  # moto names its own endpoint with it

    # moto is the optional `cloud` extra: imported only where this server runs
    import moto
    from moto.server import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
    from werkzeug.serving import make_server

    app = DomainDispatcherApplication(create_backend_app)
    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls.load_cert_chain(args.cert, args.key)
    family = socket.AF_INET6 if ":" in args.host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((args.host, args.port))  # 443 needs root
    blocked = next(filter(None, map(unreadable_dir, import_dirs())), None) if args.user else None
    if blocked:
        print(f"cloudserve: staying root: {blocked} is closed to others, and moto imports from "
              "there on each service's first request", file=sys.stderr, flush=True)
    else:
        drop_root(args.user, args.group)
    sock.listen(128)  # werkzeug's own backlog (BaseWSGIServer.request_queue_size)
    server = make_server(args.host, args.port, app, threaded=True, ssl_context=tls,
                         request_handler=MotoRequestHandler, fd=sock.fileno())
    sock.close()  # the server holds its own descriptor (socket.fromfd duplicates it)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    print(f"cloudserve: moto {moto.__version__} on [{args.host}]:{args.port}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
