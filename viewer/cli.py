"""``tailboard [DIR]`` (also ``python -m viewer [DIR]``): serve a runs folder, or the live demo.

Standard library only at the top: this runs in gunicorn's master, and the gevent worker must
patch the standard library before Flask and Tailboard are imported (see ``viewer.serve``).
"""
from __future__ import annotations

import argparse
import os
import sys

from . import bind

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000  # as gunicorn.conf.py: one port to remember however Tailboard is started

DESCRIPTION = """\
Serve the experiment runs under DIR as live web pages: charts, logs, media and reports update
the moment a file changes. Without DIR it serves the bundled demo, whose run keeps training.

It listens on 127.0.0.1 unless --host says otherwise, because every file under DIR (logs,
configs, paths) is readable by whoever can reach the port: by default that is only this
machine. With --host 0.0.0.0 (or any address others can reach) it generates an access token and
prints the link that carries it; set VIEWER_TOKEN to choose the token, or VIEWER_OPEN=1 when an
authenticating proxy is in front. When the port is taken it uses the next free one and prints
the URL it serves at. Ctrl-C or SIGTERM stops it.
"""


def directory(value):
    if not os.path.isdir(value):
        raise argparse.ArgumentTypeError(f"{value!r} is not a directory")
    return os.path.abspath(value)


def seconds(value):
    try:
        number = float(value)
    except ValueError:
        number = 0.0
    if not number > 0:
        raise argparse.ArgumentTypeError(f"{value!r} is not a positive number of seconds")
    return number


def port_number(value):
    try:
        number = int(value)
    except ValueError:
        number = -1
    if not 0 <= number <= 65535:
        raise argparse.ArgumentTypeError(f"{value!r} is not a port (0-65535; 0: any free port)")
    return number


def parser():
    p = argparse.ArgumentParser(prog="tailboard", description=DESCRIPTION,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("dir", metavar="DIR", nargs="?", type=directory,
                   help="the runs folder (default: the bundled live demo)")
    p.add_argument("--host", default=DEFAULT_HOST,
                   help="address to listen on (default: %(default)s, this machine only; "
                        "0.0.0.0 for every interface, with a generated token)")
    p.add_argument("--port", type=port_number, default=DEFAULT_PORT,
                   help="port to listen on, or the next free one after it (default: %(default)s)")
    p.add_argument("--open", action="store_true", help="open the page in a web browser")
    p.add_argument("--poll", type=seconds, metavar="SECONDS",
                   help="poll the folder at this interval instead of inotify (NFS, Lustre, "
                        "sshfs: where inotify misses writes made by other machines)")
    return p


def config_for(args):
    """The Flask config the command's options stand for (environment fills the rest)."""
    config = {}
    if args.dir:
        config["VIEWER_ROOT"] = args.dir
    if args.poll:
        config["VIEWER_POLL"] = args.poll
    return config


def main(argv=None):
    args = parser().parse_args(argv)
    try:
        sock = bind.listen(args.host, args.port)
    except OSError as e:
        print(f"tailboard: cannot listen on {args.host}:{args.port}: {e.strerror or e}", file=sys.stderr)
        return 1
    port = sock.getsockname()[1]
    print(f"Tailboard: serving {args.dir or 'the bundled live demo'}", file=sys.stderr, flush=True)
    token = bind.token_for_bind([(args.host, port)])  # prints the link with the token itself
    url = bind.url_for((args.host, port), token=token)
    if not token:
        print(f"Tailboard: open {url}", file=sys.stderr, flush=True)
    print("Tailboard: Ctrl-C stops it", file=sys.stderr, flush=True)

    def on_ready():
        if args.open:
            import webbrowser

            webbrowser.open(url)

    from . import serve

    serve.run(sock, config_for(args), on_ready=on_ready)
