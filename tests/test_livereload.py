"""Live reload of HTML reports: the injected client, the LiveReload protocol 7 socket, bursts.

The socket is tested with a real websocket client against the real servers (flask's and
gunicorn -k gevent), with the changes made on disk and seen by the app's one watcher.
"""
from __future__ import annotations

import json
import os
import time

import pytest

from builders import PAGE, html_report
from live_clients import start_server, stop_server, ws_connect

P7 = "http://livereload.com/protocols/official-7"
def recv(ws, timeout=5.0):
    raw = ws.receive(timeout=timeout)
    return None if raw is None else json.loads(raw)


def handshake(url, page="/files/reports/bench/index.html", query=""):
    ws = ws_connect(url, "/livereload" + query)
    ws.send(json.dumps({"command": "hello", "protocols": ["http://livereload.com/protocols/official-6", P7]}))
    hello = recv(ws)
    assert hello["command"] == "hello" and hello["protocols"] == [P7]
    if page is not None:
        ws.send(json.dumps({"command": "info", "plugins": {}, "url": url + page}))
    time.sleep(0.3)  # the server reads the info message, and registers what the page uses
    return ws


# -- injection (test client) ----------------------------------------------------------------

def test_html_gets_the_livereload_client_before_body_end(client, samples):
    html_report(samples)
    html = client.get("/files/reports/bench/index.html").get_data(as_text=True)
    script = html[html.index("<script src=\"/-/livereload.js"):]
    assert script.index("</script>") < script.index("</body>")
    assert "path=livereload?v=" in script and "port=&amp;" in script
    assert client.get("/-/livereload.js").status_code == 200


def test_no_injection_into_fragments_other_types_or_when_turned_off(client, samples, app):
    rep = html_report(samples)
    exact = (rep / "index.html").read_bytes()
    assert client.get("/files/reports/bench/index.html", headers={"HX-Request": "true"}).data == exact
    assert client.get("/files/reports/bench/index.html?livereload=0").data == exact
    assert client.get("/files/reports/bench/style.css").data == (rep / "style.css").read_bytes()
    app.config["VIEWER_LIVERELOAD"] = False
    app.extensions["tailboard"].config["VIEWER_LIVERELOAD"] = False
    assert client.get("/files/reports/bench/index.html").data == exact


def test_html_without_body_tag_gets_the_client_at_the_end(client, samples):
    (samples / "bare.html").write_text("<p>no body tag")
    html = client.get("/files/bare.html").get_data(as_text=True)
    assert html.startswith("<p>no body tag<script src=")


def test_injected_html_answers_conditional_and_range_requests(client, samples):
    html_report(samples)
    first = client.get("/files/reports/bench/index.html")
    assert first.headers["Content-Security-Policy"].startswith("sandbox")
    again = client.get("/files/reports/bench/index.html", headers={"If-None-Match": first.headers["ETag"]})
    assert again.status_code == 304 and again.data == b""
    part = client.get("/files/reports/bench/index.html", headers={"Range": "bytes=0-14"})
    assert part.status_code == 206 and part.data == first.data[:15]
    (samples / "reports" / "bench" / "index.html").write_text(PAGE.format(title="v2"))
    changed = client.get("/files/reports/bench/index.html", headers={"If-None-Match": first.headers["ETag"]})
    assert changed.status_code == 200 and b"v2" in changed.data


# -- the socket (real servers) --------------------------------------------------------------

@pytest.fixture(params=["flask", "gunicorn"])
def server(request, samples):
    html_report(samples)
    proc, url = start_server(request.param, samples)
    yield url
    stop_server(proc)


def test_hello_handshake_then_reload_of_the_page_on_write(server, samples):
    ws = handshake(server)
    (samples / "reports" / "bench" / "index.html").write_text(PAGE.format(title="v2"))
    msg = recv(ws)
    assert msg == {"command": "reload", "path": "/files/reports/bench/index.html",
                   "liveCSS": True, "liveImg": True}
    ws.close()


def test_css_and_images_are_swapped_in_place_scripts_reload(server, samples):
    ws = handshake(server)
    rep = samples / "reports" / "bench"
    (rep / "style.css").write_text("h1 { color: blue }\n")
    msg = recv(ws)
    assert (msg["path"], msg["liveCSS"]) == ("/files/reports/bench/style.css", True)
    (samples / "reports" / "common" / "theme.css").write_text("body { margin: 1px }\n")  # named by the page
    assert recv(ws)["path"] == "/files/reports/common/theme.css"
    (rep / "plot.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\1" * 64)
    msg = recv(ws)
    assert (msg["path"], msg["liveImg"]) == ("/files/reports/bench/plot.png", True)
    (rep / "js" / "app.js").write_text("window.app = 2;\n")
    assert recv(ws)["path"] == "/files/reports/bench/index.html"  # a script: reload the page
    ws.close()


def test_a_burst_of_writes_gives_one_reload_and_other_files_none(server, samples):
    ws = handshake(server)
    rep = samples / "reports" / "bench"
    with open(rep / "index.html", "w") as f:  # a generator writing its report in pieces
        for i in range(20):
            f.write(f"<p>part {i}</p>\n" * 50)
            f.flush()
            time.sleep(0.005)
        f.write(PAGE.format(title="v3"))
    assert recv(ws)["path"] == "/files/reports/bench/index.html"
    # 21 writes 5 ms apart coalesce (20 ms of quiet ends a burst); a loaded machine may stall a
    # write past that, so allow a split or two, never one reload per write
    extra = 0
    while recv(ws, timeout=0.4) is not None:
        extra += 1
    assert extra <= 2, f"{extra + 1} reloads for one burst of 21 writes"
    (samples / "reports" / "notes.txt").write_text("elsewhere")          # outside the page's folder
    (rep / "metrics.csv").write_text("step,loss\n1,0.5\n")              # data beside it, not used
    with open(samples / "lightning" / "lightning_logs" / "version_0" / "metrics.csv", "a") as f:
        f.write("5,0.05,83,1.5,,\r\n")                                  # a run's metrics
    assert recv(ws, timeout=1.5) is None, "a second reload, or one for a file the page does not use"
    ws.close()


def test_a_page_rewritten_before_its_socket_connected_is_reloaded_at_once(server, samples):
    import requests

    page = requests.get(server + "/files/reports/bench/index.html").text
    stamp = page.split("livereload?v=")[1].split('"')[0]
    (samples / "reports" / "bench" / "index.html").write_text(PAGE.format(title="v9"))
    time.sleep(0.2)
    ws = handshake(server, query=f"?v={stamp}")
    assert recv(ws, timeout=0.1) or recv(ws), "no reload for a page already stale"
    ws.close()
    fresh = requests.get(server + "/files/reports/bench/index.html").text
    stamp = fresh.split("livereload?v=")[1].split('"')[0]
    ws = handshake(server, query=f"?v={stamp}")
    assert recv(ws, timeout=1.0) is None  # up to date: nothing to do
    ws.close()


def test_bad_handshakes_are_refused_with_a_reason(server):
    from simple_websocket import ConnectionClosed

    ws = ws_connect(server, "/livereload")
    ws.send(json.dumps({"command": "hello", "protocols": ["http://livereload.com/protocols/official-6"]}))
    with pytest.raises(ConnectionClosed) as closed:
        while True:
            if ws.receive(timeout=5) is None:
                break
    assert closed.value.reason == 1002 and "official-7" in closed.value.message
    ws = ws_connect(server, "/livereload")
    ws.send("not json")
    with pytest.raises(ConnectionClosed) as closed:
        while True:
            if ws.receive(timeout=5) is None:
                break
    assert closed.value.reason == 1002
    import requests

    assert requests.get(server + "/healthz").ok


def test_a_client_on_another_page_gets_nothing(server, samples):
    ws = handshake(server, page="/runs/keras")  # an extension on one of the viewer's own pages
    (samples / "reports" / "bench" / "index.html").write_text(PAGE.format(title="v4"))
    assert recv(ws, timeout=1.0) is None
    ws.close()


def test_live_reload_works_when_the_watcher_polls(samples):
    # NFS: no inotify; the polling pass stats what open pages look at
    html_report(samples)
    proc, url = start_server("gunicorn", samples, VIEWER_POLL="0.2")
    try:
        ws = handshake(url)
        (samples / "reports" / "bench" / "style.css").write_text("h1 { color: green }\n")
        assert recv(ws)["path"] == "/files/reports/bench/style.css"
        (samples / "reports" / "bench" / "index.html").write_text(PAGE.format(title="v5"))
        assert recv(ws)["path"] == "/files/reports/bench/index.html"
        ws.close()
    finally:
        stop_server(proc)


def test_the_runs_folder_is_left_untouched(server, samples):
    before = sorted((p, os.stat(os.path.join(d, p)).st_mtime_ns)
                    for d, _, fs in os.walk(samples) for p in fs)
    ws = handshake(server)
    ws.close()
    after = sorted((p, os.stat(os.path.join(d, p)).st_mtime_ns)
                   for d, _, fs in os.walk(samples) for p in fs)
    assert before == after
