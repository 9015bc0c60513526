"""Clients for the access tests: raw websocket handshakes and HTTP requests with any ``Host``,
``Origin`` or header, against real servers (``flask run``, ``gunicorn -k gevent``)."""
from __future__ import annotations

import json
import socket
import time
from urllib.parse import urlsplit


from conftest import SPT_ID, copy_samples as copy_sample_tree

STREAM = f"/ws/logs/{SPT_ID}/train.out"
P7 = "http://livereload.com/protocols/official-7"
REPORT = """<!doctype html>
<html><head><link rel="stylesheet" href="style.css"></head>
<body><h1 id="t">{title}</h1><img src="plot.png"></body></html>
"""


def copy_samples(tmp_path_factory, name):
    return copy_sample_tree(tmp_path_factory.mktemp(name) / "samples")


def make_reports(root):
    """Two reports in two folders, each with its stylesheet and image, and a private file."""
    for name in ("a", "b"):
        rep = root / "reports" / name
        rep.mkdir(parents=True, exist_ok=True)
        (rep / "index.html").write_text(REPORT.format(title=name))
        (rep / "style.css").write_text("h1 { color: red }\n")
        (rep / "plot.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 64)
    (root / "reports" / "b" / "secret.txt").write_text("report b's private notes\n")


def raw_request(base, method, target, headers=None, host=None, body=b""):
    """One HTTP/1.1 request sent byte for byte (no client normalises the target or the Host):
    returns (status, headers dict with lower-case names, body bytes up to 64 KiB)."""
    u = urlsplit(base)
    lines = [f"{method} {target} HTTP/1.1", f"Host: {host if host is not None else u.netloc}",
             "Connection: close"]
    lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
    if body:
        lines.append(f"Content-Length: {len(body)}")
    with socket.create_connection((u.hostname, u.port), timeout=10) as s:
        s.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body)
        data = b""
        deadline = time.time() + 10
        while time.time() < deadline and len(data) < 65536:
            try:
                chunk = s.recv(65536)
            except socket.timeout:
                break
            if not chunk:
                break
            data += chunk
            head, sep, _ = data.partition(b"\r\n\r\n")
            if sep and b"text/event-stream" in head.lower():
                break  # a stream never ends: the head (and a first event) is enough
            if sep and head.split()[1:2] == [b"101"]:
                break
    head, _, rest = data.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    hdrs = {}
    for line in header_lines:
        k, _, v = line.partition(":")
        hdrs.setdefault(k.strip().lower(), v.strip())
    return int(status_line.split()[1]), hdrs, rest


def handshake(base, path, origin=None, host=None, headers=None):
    """The status of a websocket upgrade sent by hand (101: accepted), and the body of a refusal."""
    h = {"Upgrade": "websocket", "Connection": "Upgrade", "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
         "Sec-WebSocket-Version": "13", **(headers or {})}
    if origin is not None:
        h["Origin"] = origin
    u = urlsplit(base)
    lines = [f"GET {path} HTTP/1.1", f"Host: {host if host is not None else u.netloc}"]
    lines += [f"{k}: {v}" for k, v in h.items()]
    with socket.create_connection((u.hostname, u.port), timeout=10) as s:
        s.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
        status = int(data.split()[1])
        if status != 101:
            s.settimeout(2)
            try:
                while True:
                    chunk = s.recv(4096)
                    if not chunk:
                        break
                    data += chunk
            except OSError:
                pass
    return status, data.partition(b"\r\n\r\n")[2]


def livereload_client(base, query="", headers=None):
    """A real websocket client on ``/livereload`` after the LiveReload hello."""
    import simple_websocket

    from live_clients import ws_connect

    if headers:
        ws = simple_websocket.Client.connect(base.replace("http://", "ws://") + "/livereload" + query,
                                             headers=headers)
    else:
        ws = ws_connect(base, "/livereload" + query)
    ws.send(json.dumps({"command": "hello", "protocols": [P7]}))
    hello = json.loads(ws.receive(timeout=10))
    assert hello["command"] == "hello"
    return ws


def info(ws, base, path):
    ws.send(json.dumps({"command": "info", "plugins": {}, "url": base + path}))


def injected_query(html):
    """The ``?v=<stamp>~<capability>`` of the live-reload socket injected into a served page."""
    return "?v=" + html.split("livereload?v=")[1].split('"')[0].split("&")[0]
