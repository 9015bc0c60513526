"""Pages render whole for a browser and as fragments for htmx, from the same data as the API."""
from __future__ import annotations

from conftest import LIGHTNING_ID, SPT_ID

HX = {"HX-Request": "true"}


def test_overview_lists_every_run_with_status_and_key_metrics(client):
    r = client.get("/")
    html = r.get_data(as_text=True)
    assert r.status_code == 200 and r.headers["Vary"] == "HX-Request"
    assert "<html" in html and "htmx-2.0.11.min.js" in html
    for rid in (SPT_ID, LIGHTNING_ID, "keras", "hf", "jsonl/run1"):
        assert f'data-run="{rid}"' in html
    assert "val/loss" in html  # a key metric column
    assert "badge-completed" in html


def test_htmx_request_gets_only_the_table_fragment(client):
    r = client.get("/?q=keras", headers=HX)
    html = r.get_data(as_text=True)
    assert r.headers["Vary"] == "HX-Request"
    assert "<html" not in html and "<table" in html
    assert 'data-run="keras"' in html and 'data-run="hf"' not in html
    assert "1 of 5 runs" in html


def test_filter_matches_tags_status_and_hparams(client):
    def shown(q):
        html = client.get("/", query_string={"q": q}, headers=HX).get_data(as_text=True)
        return {rid for rid in (SPT_ID, LIGHTNING_ID, "keras", "hf", "jsonl/run1") if f'data-run="{rid}"' in html}

    assert shown("demo") == {SPT_ID}                   # a tag
    assert shown("seed=0") == {LIGHTNING_ID}           # an hparam key=value
    assert shown("completed") >= {SPT_ID, "hf"}         # a status
    assert shown("no-such-thing") == set()


def test_status_chip_filters(client):
    html = client.get("/?status=completed", headers=HX).get_data(as_text=True)
    assert f'data-run="{SPT_ID}"' in html and 'data-run="keras"' not in html


def test_hparams_on_demand(client):
    html = client.get("/-/partials/hparams", query_string={"run": SPT_ID}).get_data(as_text=True)
    assert "optim.lr" in html and "0.05" in html


def test_run_page_tabs(client):
    charts = client.get(f"/runs/{SPT_ID}").get_data(as_text=True)
    assert f'data-metrics-url="/api/runs/{SPT_ID}/metrics"' in charts
    logs = client.get(f"/runs/{SPT_ID}?tab=logs").get_data(as_text=True)
    assert "train.err" in logs and "Epoch   2 | step    48" in logs
    # tqdm's carriage-return updates collapse to the final state of the bar
    assert "Caching features: 100%" in logs and "Caching features:   4%" not in logs
    media = client.get(f"/runs/{SPT_ID}?tab=media").get_data(as_text=True)
    # each of the two tags draws its latest step; the page's script swaps src for the others
    assert media.count("<img") == 2 and "00000048_0.png" in media and "data-media-slider" in media
    config = client.get(f"/runs/{SPT_ID}?tab=config").get_data(as_text=True)
    assert "optim.weight_decay" in config and "sidecar.json" in config


def test_run_page_fragment_for_htmx_tab_switch(client):
    r = client.get(f"/runs/{SPT_ID}?tab=logs", headers=HX)
    html = r.get_data(as_text=True)
    assert "<html" not in html and "train.out" in html and r.headers["Vary"] == "HX-Request"


def test_ansi_colours_render_and_html_in_logs_is_escaped(client, samples):
    run = samples / "jsonl" / "run1"
    (run / "job.err").write_bytes(b"\x1b[31mboom\x1b[0m <script>alert(1)</script>\n")
    html = client.get("/runs/jsonl/run1?tab=logs").get_data(as_text=True)
    assert '<span class="ansi-fg-red">boom</span>' in html and "style=" not in html
    assert "<script>alert(1)" not in html and "&lt;script&gt;" in html


def test_unknown_run_page_is_a_404_page(client):
    r = client.get("/runs/does/not/exist")
    assert r.status_code == 404 and "unknown run" in r.get_data(as_text=True)


def test_broken_run_shows_its_error_on_its_row_and_others_still_work(client, samples, app):
    (samples / "spt" / "runs" / "20261121" / "142732" / "1c80a3b1799d" / "sidecar.json").write_text("{oops")
    app.extensions["tailboard"].store.scan()
    html = client.get("/").get_data(as_text=True)
    assert "sidecar.json: invalid JSON" in html
    assert 'data-run="keras"' in html
    assert client.get(f"/api/runs/{SPT_ID}/metrics").status_code == 200


def test_progress_bar_while_the_first_scan_runs(client, app):
    store = app.extensions["tailboard"].store
    store.scan_state = {"phase": "loading", "total": 10, "done": 3}
    html = client.get("/").get_data(as_text=True)
    assert 'sse-swap="scan"' in html and 'max="10" value="3"' in html
    assert "Reading runs 3 / 10" in html


def test_a_page_drawn_mid_scan_learns_at_connect_that_the_scan_ended(client, app):
    # the scan may end between the page's render and its stream's connect: that last
    # progress event would be missed, and the page would show a progress bar for ever
    store = app.extensions["tailboard"].store
    store.scan_state = {"phase": "loading", "total": 10, "done": 3}
    html = client.get("/").get_data(as_text=True)
    assert "/events?scan=1" in html
    store.scan_state = {"phase": "done", "total": 10, "done": 10}
    resp = client.get("/events?scan=1", buffered=False)
    chunks = resp.response
    first = next(chunks) + next(chunks)  # the preamble, then (before any heartbeat) the scan
    assert b"event: scan" in first
    assert b'hx-trigger="load"' in first  # the done state makes the table fetch itself
    resp.close()
