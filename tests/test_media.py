"""The run page's media tab: one step per tag with a slider, compare rows, a lightbox, lazy
item lists (a run with 5,000 images opens fast) and new media pushed live.

Fragments are checked with the Flask test client, the ``media`` events with the publisher in
process and through the real servers, and what a user sees in Debian's chromium.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import time

import pytest

from builders import add_media
from conftest import SPT_ID
from live_clients import SSE, start_server, stop_server

HX = {"HX-Request": "true"}
RUN_B = "spt/runs/20261121/150000/bbbbbbbbbbbb"   # a second spt run, built by ``run_b``
BIG = "big/run"                                  # 5,000 images, built by ``big_run``
BIG_TAGS = ("samples", "val/reconstruction")
BIG_PER_TAG = 2500


# -- helpers: media.jsonl as a writer (spt's callback) leaves it ---------------------------

def index(run):
    """The items of a run's media.jsonl, in file order."""
    return [json.loads(line) for line in (run / "media.jsonl").read_text().splitlines() if line.strip()]


def by_tag(run):
    out = {}
    for m in index(run):
        out.setdefault(m["tag"], []).append(m)
    for items in out.values():
        items.sort(key=lambda m: m["step"])
    return out


def any_png(folder):
    """A small real PNG under ``folder`` (the samples' images are 48 x 48)."""
    return sorted(folder.rglob("*.png"))[0]


def file_url(rid, item):
    return f"/files/{rid}/{item['path']}"


def panel_data(html):
    """{tag: [{"id", "base", "items"}, ...]} from the JSON each tag ships to the page."""
    out = {}
    for tag, data in re.findall(r'data-media-tag="([^"]+)".*?<script type="application/json" data-media-data>(.*?)</script>',
                                html, re.S):
        out[tag] = json.loads(data)["runs"]
    return out


def tag_block(html, tag):
    start = html.index(f'data-media-tag="{tag}"')
    end = html.find("data-media-tag=", start + 20)
    return html[start:end if end > 0 else len(html)]


@pytest.fixture
def run_a(samples):
    return samples / SPT_ID


@pytest.fixture
def run_b(samples, run_a):
    """A copy of the spt run whose images sit at other steps: 24 and 40 (run A: 16, 32, 48)."""
    dst = samples / RUN_B
    shutil.copytree(run_a, dst)
    old = index(dst)
    (dst / "media.jsonl").write_text("")
    for step, src_step in ((24, 16), (40, 32)):
        for m in old:
            if m["step"] == src_step:
                add_media(dst, m["tag"], step, f"B {m['tag']} at {step}", dst / m["path"])
    return dst


@pytest.fixture
def big_run(samples):
    """An spt run with 5,000 images (hard links to one tiny PNG) in two tags."""
    run = samples / BIG
    run.mkdir(parents=True)
    (run / "sidecar.json").write_text(json.dumps({"schema_version": 1, "run_id": "big", "status": "running",
                                                 "created_at": time.time(), "tags": [], "hparams": {}}))
    png = any_png(samples)
    lines = []
    for tag in BIG_TAGS:
        folder = run / "media" / tag.replace("/", "__")
        folder.mkdir(parents=True)
        for i in range(BIG_PER_TAG):
            name = f"{i * 10:08d}_0.png"
            try:
                os.link(png, folder / name)
            except OSError:
                shutil.copyfile(png, folder / name)
            lines.append(json.dumps({"step": i * 10, "tag": tag, "type": "image",
                                     "path": f"media/{folder.name}/{name}", "caption": f"{tag} at step {i * 10}"}))
    (run / "media.jsonl").write_text("\n".join(lines) + "\n")
    return run


def rescan(app):
    app.extensions["tailboard"].store.scan()


# -- the fragment ---------------------------------------------------------------------------

def test_each_tag_shows_its_latest_item_with_step_and_caption(client, run_a):
    html = client.get(f"/runs/{SPT_ID}?tab=media", headers=HX).get_data(as_text=True)
    tags = by_tag(run_a)
    assert set(panel_data(html)) == set(tags)
    for tag, items in tags.items():
        block = tag_block(html, tag)
        last = items[-1]
        assert block.count("<img") == 1, "only the current step is drawn"
        assert f'src="{file_url(SPT_ID, last)}"' in block
        assert f"step {last['step']}" in block and last["caption"] in block
        assert f'max="{len(items) - 1}" value="{len(items) - 1}"' in block   # the slider, at the end
        rows = panel_data(html)[tag][0]
        # the page gets every item as compact rows, in step order, with working URLs
        assert [r[0] for r in rows["items"]] == [m["step"] for m in items]
        assert [r[2] for r in rows["items"]] == [m["caption"] for m in items]
        for r, m in zip(rows["items"], items):
            assert rows["base"] + r[1] == file_url(SPT_ID, m)
            assert client.get(rows["base"] + r[1]).status_code == 200


def test_a_run_with_5000_images_renders_a_small_fragment_fast(app, client, big_run):
    rescan(app)
    client.get(f"/runs/{BIG}?tab=media", headers=HX)          # first read of the index
    t0 = time.perf_counter()
    r = client.get(f"/runs/{BIG}?tab=media", headers=HX)
    elapsed = time.perf_counter() - t0
    html = r.get_data(as_text=True)
    assert r.status_code == 200
    assert html.count("<img") == len(BIG_TAGS), "one <img> per tag, not one per item"
    data = panel_data(html)
    assert sum(len(runs[0]["items"]) for runs in data.values()) == len(BIG_TAGS) * BIG_PER_TAG
    last = by_tag(big_run)["samples"][-1]
    assert f'src="{file_url(BIG, last)}"' in html
    assert len(html) < 100 * BIG_PER_TAG * len(BIG_TAGS), f"{len(html)} bytes"
    assert elapsed < 1.5, f"media tab of 5,000 images took {elapsed:.2f}s"


def test_videos_get_a_player_that_loads_only_metadata(client, run_a):
    add_media(run_a, "rollout", 8, "episode 8", any_png(run_a), kind="video")
    html = client.get(f"/runs/{SPT_ID}?tab=media", headers=HX).get_data(as_text=True)
    block = tag_block(html, "rollout")
    assert re.search(r'<video src="[^"]+/media/rollout/00000008_0\.mp4" controls preload="metadata">', block)
    assert panel_data(html)["rollout"][0]["items"][0][3] == "video"


def test_captions_cannot_inject_markup(client, run_a):
    add_media(run_a, "samples", 64, "</script><script>alert(1)</script>", any_png(run_a))
    html = client.get(f"/runs/{SPT_ID}?tab=media", headers=HX).get_data(as_text=True)
    assert "<script>alert(1)" not in html
    assert panel_data(html)["samples"][0]["items"][-1][2] == "</script><script>alert(1)</script>"


def test_items_without_a_usable_step_come_first_and_keep_the_json_valid(client, run_a):
    png = any_png(run_a)
    steps = [m["step"] for m in by_tag(run_a)["samples"]]
    shutil.copyfile(png, run_a / "media" / "samples" / "grid.png")
    with open(run_a / "media.jsonl", "a") as f:   # Python's json writes NaN; a bare step is missing
        f.write('{"step": NaN, "tag": "samples", "type": "image", "path": "media/samples/grid.png", "caption": "nan"}\n')
        f.write('{"tag": "samples", "type": "image", "path": "media/samples/grid.png", "caption": "none"}\n')
    html = client.get(f"/runs/{SPT_ID}?tab=media", headers=HX).get_data(as_text=True)
    assert "NaN" not in tag_block(html, "samples")            # the browser's JSON.parse refuses it
    rows = panel_data(html)["samples"][0]["items"]
    assert [r[0] for r in rows] == [None, None] + steps
    assert [r[2] for r in rows[:2]] == ["nan", "none"]


def test_images_in_a_run_without_an_index_are_grouped_by_folder(client, samples):
    run = samples / "jsonl" / "run1"
    (run / "plots").mkdir()
    for step in (5, 15):
        shutil.copyfile(any_png(samples), run / "plots" / f"confusion_{step}.png")
    html = client.get("/runs/jsonl/run1?tab=media", headers=HX).get_data(as_text=True)
    assert [r[0] for r in panel_data(html)["plots"][0]["items"]] == [5, 15]
    assert 'src="/files/jsonl/run1/plots/confusion_15.png"' in html


def test_compare_gives_one_row_per_run_and_one_slider_per_tag(app, client, run_a, run_b):
    rescan(app)
    html = client.get(f"/runs/{SPT_ID}?tab=media&compare={RUN_B}", headers=HX).get_data(as_text=True)
    a, b = by_tag(run_a), by_tag(run_b)
    for tag in a:
        block = tag_block(html, tag)
        assert block.count("data-run-row=") == 2 and block.count("data-media-slider") == 1
        assert f'data-run-row="{SPT_ID}"' in block and f'data-run-row="{RUN_B}"' in block
        assert f"<code>{RUN_B}</code>" in block                      # each row says whose it is
        steps = sorted({m["step"] for m in a[tag] + b[tag]})
        assert f'max="{len(steps) - 1}"' in block                    # the union of both runs' steps
        # at the latest step, B shows its own latest, which is earlier
        assert f'src="{file_url(RUN_B, b[tag][-1])}"' in block
        assert f"step {b[tag][-1]['step']} (latest ≤ {steps[-1]})" in block
        assert [r["id"] for r in panel_data(html)[tag]] == [SPT_ID, RUN_B]


def test_a_tag_only_one_compared_run_has_says_no_image_for_the_other(app, client, run_a, run_b):
    add_media(run_b, "only/b", 40, "just B", any_png(run_a))
    rescan(app)
    html = client.get(f"/runs/{SPT_ID}?tab=media&compare={RUN_B}", headers=HX).get_data(as_text=True)
    block = tag_block(html, "only/b")
    assert block.count("data-run-row=") == 2 and "no image at this step" in block


def test_unknown_compare_ids_are_ignored_with_a_visible_note(app, client, run_b):
    rescan(app)
    r = client.get(f"/runs/{SPT_ID}?tab=media&compare=no/such/run,{RUN_B},{SPT_ID}", headers=HX)
    html = r.get_data(as_text=True)
    assert r.status_code == 200
    assert "Not compared (no such run): <code>no/such/run</code>" in html
    assert tag_block(html, "samples").count("data-run-row=") == 2   # the run itself is not repeated


def test_media_partial_route_returns_the_panel_alone(app, client, run_b):
    rescan(app)
    r = client.get("/-/partials/media", query_string={"run": SPT_ID, "compare": RUN_B})
    html = r.get_data(as_text=True)
    assert r.status_code == 200 and "<html" not in html and "run-head" not in html
    assert "data-media-panel" in html
    assert tag_block(html, "samples").count("data-run-row=") == 2
    assert client.get("/-/partials/media", query_string={"run": "nope"}).status_code == 404


def test_the_compare_form_and_datalist_offer_the_other_runs(client):
    html = client.get(f"/runs/{SPT_ID}?tab=media", headers=HX).get_data(as_text=True)
    assert 'name="compare"' in html and '<option value="keras">' in html
    assert f'<option value="{SPT_ID}">' not in html


# -- media events from the publisher ---------------------------------------------------------

def media_events(sub):
    out = []
    while True:
        ev = sub.get(timeout=0)
        if ev is None:
            return out
        out.append(ev)


def publish(app, *paths):
    """What the watcher does with inotify's paths: the store applies them, the publisher publishes."""
    v = app.extensions["tailboard"]
    v.watcher.publish(v.store.apply([str(p) for p in paths]))


@pytest.fixture
def run_events(app):
    v = app.extensions["tailboard"]
    v.store.follow([SPT_ID])  # what /events?run=<id> does: the page follows the run's series
    sub = v.bus.subscribe(lambda e: e.audience == SPT_ID)
    yield sub
    v.bus.unsubscribe(sub)


def test_new_index_lines_are_published_once_as_a_media_event(app, run_a, run_events):
    png = any_png(run_a)
    before = len(index(run_a))
    item = add_media(run_a, "samples", 64, "fresh", png)
    publish(app, run_a / item["path"], run_a / "media.jsonl")
    evs = [e for e in media_events(run_events) if e.name == "media"]
    assert len(evs) == 1
    first = json.loads(evs[0].data)
    assert first["run"] == SPT_ID and first["reset"] is False
    # the first event since start has no cursor: a window ending with the new item, ``from`` its index
    assert first["from"] + len(first["items"]) == before + 1 and first["from"] <= before
    assert first["items"][-1] == {"tag": "samples", "step": 64, "type": "image", "caption": "fresh",
                                  "url": file_url(SPT_ID, item)}
    publish(app, run_a / "media.jsonl")                       # nothing new: no event
    assert [e for e in media_events(run_events) if e.name == "media"] == []
    second = add_media(run_a, "val/reconstruction", 64, "fresh too", png)
    publish(app, run_a / second["path"], run_a / "media.jsonl")
    evs = [json.loads(e.data) for e in media_events(run_events) if e.name == "media"]
    assert evs == [{"run": SPT_ID, "reset": False, "from": before + 1,
                    "items": [{"tag": "val/reconstruction", "step": 64, "type": "image",
                               "caption": "fresh too", "url": file_url(SPT_ID, second)}]}]


def test_media_event_follows_the_runs_header_and_metrics(app, run_a, run_events):
    item = add_media(run_a, "samples", 64, "fresh", any_png(run_a))
    with open(run_a / "metrics.csv", "a") as f:
        f.write("3,0.05,51,0.25,,\r\n")
    publish(app, run_a / "metrics.csv", run_a / item["path"], run_a / "media.jsonl")
    names = [e.name for e in media_events(run_events)]
    assert names == ["run", "metrics", "media"]


def test_changes_that_touch_no_media_publish_no_media_event(app, run_a, run_events):
    with open(run_a / "metrics.csv", "a") as f:
        f.write("3,0.05,51,0.25,,\r\n")
    publish(app, run_a / "metrics.csv")
    names = [e.name for e in media_events(run_events)]
    assert "metrics" in names and "media" not in names


def test_a_shorter_index_is_a_reset(app, run_a, run_events):
    png = any_png(run_a)
    item = add_media(run_a, "samples", 64, "fresh", png)
    publish(app, run_a / item["path"], run_a / "media.jsonl")
    media_events(run_events)
    lines = (run_a / "media.jsonl").read_text().splitlines(keepends=True)
    (run_a / "media.jsonl").write_text("".join(lines[:2]))     # rewritten, shorter
    publish(app, run_a / "media.jsonl")
    evs = [json.loads(e.data) for e in media_events(run_events) if e.name == "media"]
    assert [e["reset"] for e in evs] == [True]


def test_a_new_image_in_a_run_without_an_index_is_published(app, samples):
    v = app.extensions["tailboard"]
    sub = v.bus.subscribe(lambda e: e.audience == "jsonl/run1")
    try:
        run = samples / "jsonl" / "run1"
        (run / "plots").mkdir()
        shutil.copyfile(any_png(samples), run / "plots" / "confusion_5.png")
        publish(app, run / "plots", run / "plots" / "confusion_5.png")
        evs = [json.loads(e.data) for e in media_events(sub) if e.name == "media"]
        assert evs == [{"run": "jsonl/run1", "reset": False, "from": None,
                        "items": [{"tag": "plots", "step": 5, "type": "image", "caption": "confusion_5.png",
                                   "url": "/files/jsonl/run1/plots/confusion_5.png"}]}]
    finally:
        v.bus.unsubscribe(sub)


@pytest.mark.parametrize("kind", ["flask", "gunicorn"])
def test_a_written_image_reaches_the_run_page_stream(kind, samples):
    proc, url = start_server(kind, samples)
    try:
        sse = SSE(url, f"/events?run={SPT_ID}")
        run = samples / SPT_ID
        item = add_media(run, "samples", 64, "live", any_png(samples))
        ev = json.loads(sse.next("media")["data"])
        assert ev["items"][-1]["url"] == file_url(SPT_ID, item)
        sse.close()
    finally:
        stop_server(proc)


def test_a_new_image_of_a_run_without_an_index_reaches_its_page_when_polling(samples):
    # polling stats a run's own files only; while its page is open, its media folders too
    run = samples / "jsonl" / "run1"
    (run / "plots").mkdir()
    proc, url = start_server("gunicorn", samples, VIEWER_POLL="0.2")
    try:
        sse = SSE(url, "/events?run=jsonl/run1")
        time.sleep(0.5)  # the stream registered the folders, and a pass stamped them
        shutil.copyfile(any_png(samples), run / "plots" / "confusion_7.png")
        ev = json.loads(sse.next("media")["data"])
        assert ev["items"][-1]["url"] == "/files/jsonl/run1/plots/confusion_7.png"
        sse.close()
    finally:
        stop_server(proc)


# -- in the browser ----------------------------------------------------------------------------

IMG = "[data-media-tag='{tag}'] [data-run-row='{row}'] .media-item img"
LOADED = "(img) => img.complete && img.naturalWidth > 0"


def shown(page, tag, row=SPT_ID):
    """(src path, caption text) of the first item a row shows."""
    img = page.locator(IMG.format(tag=tag, row=row)).first
    src = img.evaluate("(i) => new URL(i.src).pathname")
    return src, img.locator("xpath=..").locator("figcaption").inner_text()


@pytest.fixture
def media_server(run_b, live_server):
    """The real app over the samples plus run B (built before the server starts)."""
    return live_server


@pytest.fixture
def big_server(big_run, live_server):
    return live_server


def test_slider_buttons_and_arrow_keys_change_the_shown_image(page, live_server, run_a):
    items = by_tag(run_a)["samples"]
    page.goto(f"{live_server}/runs/{SPT_ID}?tab=media")
    page.wait_for_function(f"({LOADED})(document.querySelector(\"{IMG.format(tag='samples', row=SPT_ID)}\"))")
    assert shown(page, "samples")[0] == file_url(SPT_ID, items[-1])
    tag = page.locator("[data-media-tag='samples']")
    tag.locator("[data-media-slider]").fill("0")
    src, caption = shown(page, "samples")
    assert src == file_url(SPT_ID, items[0])
    assert f"step {items[0]['step']}" in caption and items[0]["caption"] in caption
    assert tag.locator("[data-media-pos]").inner_text().startswith(f"step {items[0]['step']} · 1 / {len(items)}")
    assert tag.locator("[data-media-prev]").is_disabled()
    tag.locator("[data-media-next]").click()
    assert shown(page, "samples")[0] == file_url(SPT_ID, items[1])
    tag.focus()
    page.keyboard.press("ArrowRight")
    assert shown(page, "samples")[0] == file_url(SPT_ID, items[2])
    page.keyboard.press("Home")
    assert shown(page, "samples")[0] == file_url(SPT_ID, items[0])
    # the filmstrip: lazy thumbnails, the current one marked, a click selects
    thumbs = tag.locator(".media-thumb")
    assert thumbs.count() == len(items)
    assert all(t == "lazy" for t in thumbs.locator("img").evaluate_all("(l) => l.map(i => i.loading)"))
    assert tag.locator(".media-thumb[aria-current='true']").inner_text() == str(items[0]["step"])
    thumbs.last.click()
    assert shown(page, "samples")[0] == file_url(SPT_ID, items[-1])
    # the other tag did not move
    assert shown(page, "val/reconstruction")[0] == file_url(SPT_ID, by_tag(run_a)["val/reconstruction"][-1])
    assert page.errors == []


def test_lightbox_opens_full_size_pages_with_arrows_and_closes(page, live_server, run_a):
    items = by_tag(run_a)["samples"]
    page.goto(f"{live_server}/runs/{SPT_ID}?tab=media")
    thumb = page.locator(IMG.format(tag="samples", row=SPT_ID))
    thumb.wait_for()
    thumb.click()
    box = page.locator("dialog.media-lightbox")
    box.wait_for(state="visible")
    big = box.locator(".lb-stage img")
    page.wait_for_function(f"({LOADED})(document.querySelector('dialog.media-lightbox .lb-stage img'))")
    assert big.evaluate("(i) => new URL(i.src).pathname") == file_url(SPT_ID, items[-1])
    assert big.bounding_box()["width"] > thumb.bounding_box()["width"]       # bigger than in the page
    assert items[-1]["caption"] in box.inner_text() and f"step {items[-1]['step']}" in box.inner_text()
    assert box.locator("a.lb-raw").get_attribute("href") == file_url(SPT_ID, items[-1])
    page.keyboard.press("ArrowLeft")
    assert big.evaluate("(i) => new URL(i.src).pathname") == file_url(SPT_ID, items[-2])
    assert items[-2]["caption"] in box.inner_text()
    assert shown(page, "samples")[0] == file_url(SPT_ID, items[-2])   # the tag's slider followed
    page.keyboard.press("Escape")
    box.wait_for(state="hidden")
    # open again; a click outside the picture closes it too
    page.locator(IMG.format(tag="samples", row=SPT_ID)).click()
    box.wait_for(state="visible")
    page.mouse.click(8, 8)
    box.wait_for(state="hidden")
    assert page.errors == []


def test_compare_shows_one_row_per_run_under_one_slider(page, media_server, run_a, run_b):
    a, b = by_tag(run_a)["samples"], by_tag(run_b)["samples"]
    steps = sorted({m["step"] for m in a + b})
    page.goto(f"{media_server}/runs/{SPT_ID}?tab=media&compare={RUN_B},no-such-run")
    tag = page.locator("[data-media-tag='samples']")
    tag.wait_for()
    assert "no-such-run" in page.locator(".media-note").inner_text()
    assert tag.locator(".media-row").count() == 2 and tag.locator("[data-media-slider]").count() == 1
    assert tag.locator(".media-run").all_inner_texts() == [SPT_ID, RUN_B]
    # the first step: run A's first image; run B has none yet
    tag.locator("[data-media-slider]").fill("0")
    assert shown(page, "samples", SPT_ID)[0] == file_url(SPT_ID, a[0])
    assert tag.locator(".media-row").nth(1).locator(".media-none").inner_text() == "no image at this step"
    # a step only B has: A shows its latest image before it
    i = steps.index(b[-1]["step"])
    tag.locator("[data-media-slider]").fill(str(i))
    a_before = [m for m in a if m["step"] <= steps[i]][-1]
    src, caption = shown(page, "samples", SPT_ID)
    assert src == file_url(SPT_ID, a_before) and f"latest ≤ {steps[i]}" in caption
    assert shown(page, "samples", RUN_B)[0] == file_url(RUN_B, b[-1])
    assert page.errors == []


def test_the_compare_box_adds_a_run_and_puts_it_in_the_url(page, media_server):
    page.goto(f"{media_server}/runs/{SPT_ID}?tab=media")
    tag = page.locator("[data-media-tag='samples']")
    tag.wait_for()
    assert tag.locator(".media-row").count() == 1
    page.fill("input[name=compare]", RUN_B)
    page.click(".media-compare button[type=submit]")
    page.wait_for_function("document.querySelectorAll(\"[data-media-tag='samples'] .media-row\").length === 2")
    assert "compare=" in page.url and "bbbbbbbbbbbb" in page.url   # a link to this view
    assert page.locator("[data-media-tag='samples'] .media-run").all_inner_texts() == [SPT_ID, RUN_B]
    assert page.errors == []


def test_new_media_appear_live_and_only_a_slider_at_the_end_follows(page, live_server, run_a):
    png = any_png(run_a)
    recon = by_tag(run_a)["val/reconstruction"]
    page.goto(f"{live_server}/runs/{SPT_ID}?tab=media")
    page.locator(IMG.format(tag="samples", row=SPT_ID)).wait_for()
    recon_tag = page.locator("[data-media-tag='val/reconstruction']")
    # the page's script has drawn the tag (its filmstrip): before, under load, a click on the
    # server-drawn ◀ could land before the module graph loaded, and nothing would listen
    recon_tag.locator("[data-media-film]").wait_for(timeout=10000)
    recon_tag.locator("[data-media-prev]").click()                    # the user looks back here
    assert shown(page, "val/reconstruction")[0] == file_url(SPT_ID, recon[-2])
    step = max(m["step"] for m in index(run_a)) + 16
    new_sample = add_media(run_a, "samples", step, "written live", png)
    add_media(run_a, "val/reconstruction", step, "written live", png)
    page.wait_for_function(
        "document.querySelector(\"[data-media-tag='samples'] [data-media-pos]\").textContent.startsWith('step %d')" % step,
        timeout=10000)
    src, caption = shown(page, "samples")
    assert src == file_url(SPT_ID, new_sample) and "written live" in caption       # tail -f
    page.wait_for_function(f"({LOADED})(document.querySelector(\"{IMG.format(tag='samples', row=SPT_ID)}\"))")
    # the second write may reach the page in an event of its own (the watcher coalesces writes
    # 5 ms apart): wait for it, as a user would, rather than assert at the samples' moment
    page.wait_for_function(
        "document.querySelector(\"[data-media-tag='val/reconstruction'] [data-media-total]\").textContent === '%d items'"
        % (len(recon) + 1), timeout=10000)
    assert shown(page, "val/reconstruction")[0] == file_url(SPT_ID, recon[-2])  # kept where the user was
    # a new tag: the panel is re-fetched, and the user's position survives it
    add_media(run_a, "attention/maps", step, "a new tag", png)
    page.locator(IMG.format(tag="attention/maps", row=SPT_ID)).wait_for(timeout=10000)
    assert shown(page, "val/reconstruction")[0] == file_url(SPT_ID, recon[-2])
    assert page.errors == []


# what the recon tag shows (its step line and slider) each time a media panel is put in the page,
# read in the microtask after the insertion: the state the next frame paints
WATCH_PANEL_SWAPS = """() => {
  const seen = [];
  new MutationObserver((records) => records.forEach((r) => r.addedNodes.forEach((n) => {
    const tag = n.matches && n.matches("[data-media-panel]") && n.querySelector("[data-media-tag='val/reconstruction']");
    if (tag) seen.push([tag.querySelector("[data-media-pos]").textContent, tag.querySelector("[data-media-slider]").value]);
  }))).observe(document.body, { childList: true, subtree: true });
  document.body.mediaSwapsSeen = seen;
}"""


def open_media_looking_back(page, live_server, recon, clicks=1):
    """The media tab, with the user moved ``clicks`` steps back on val/reconstruction."""
    page.goto(f"{live_server}/runs/{SPT_ID}?tab=media")
    recon_tag = page.locator("[data-media-tag='val/reconstruction']")
    recon_tag.locator("[data-media-film]").wait_for(timeout=10000)   # the script drew the tag
    for _ in range(clicks):
        recon_tag.locator("[data-media-prev]").click()
    assert shown(page, "val/reconstruction")[0] == file_url(SPT_ID, recon[-1 - clicks])
    return recon_tag


def test_a_refetched_media_panel_never_shows_another_step_than_the_users(page, live_server, run_a):
    """A new tag re-fetches the panel: the new panel must show the user's step from its first
    frame. (htmx set it up 20 ms after the swap, longer under load, so the server's latest step
    showed first: the live-media test read it then, now and again.)"""
    recon = by_tag(run_a)["val/reconstruction"]
    open_media_looking_back(page, live_server, recon)
    page.evaluate(WATCH_PANEL_SWAPS)
    step = max(m["step"] for m in index(run_a)) + 16
    add_media(run_a, "attention/maps", step, "a new tag", any_png(run_a))
    page.locator(IMG.format(tag="attention/maps", row=SPT_ID)).wait_for(timeout=10000)
    seen = page.evaluate("() => document.body.mediaSwapsSeen")
    want = (f"step {recon[-2]['step']} · {len(recon) - 1} / {len(recon)}", str(len(recon) - 2))
    assert seen and all(tuple(s) == want for s in seen), seen
    assert shown(page, "val/reconstruction")[0] == file_url(SPT_ID, recon[-2])
    assert page.errors == []


def test_a_slider_moved_while_the_panel_is_refetched_keeps_the_move(page, live_server, run_a):
    """The user moves a tag's step while the re-fetched panel is on its way: the new panel opens
    where the user went, not where the user was when the request left."""
    recon = by_tag(run_a)["val/reconstruction"]
    open_media_looking_back(page, live_server, recon)
    held = []
    page.route(re.compile(r"/-/partials/media\?"), lambda route: held.append(route))  # the panel waits here
    add_media(run_a, "attention/maps", max(m["step"] for m in index(run_a)) + 16, "a new tag", any_png(run_a))
    deadline = time.time() + 10
    while not held and time.time() < deadline:
        page.wait_for_timeout(50)
    assert held, "the new tag did not re-fetch the panel"
    page.locator("[data-media-tag='val/reconstruction'] [data-media-prev]").click()   # meanwhile
    assert shown(page, "val/reconstruction")[0] == file_url(SPT_ID, recon[-3])
    held[0].continue_()
    page.locator(IMG.format(tag="attention/maps", row=SPT_ID)).wait_for(timeout=10000)
    assert shown(page, "val/reconstruction")[0] == file_url(SPT_ID, recon[-3])
    assert page.errors == []


def test_a_run_with_5000_images_opens_fast_on_the_latest_image(page, big_server, big_run):
    last = by_tag(big_run)["samples"][-1]
    t0 = time.perf_counter()
    page.goto(f"{big_server}/runs/{BIG}?tab=media")
    page.wait_for_function(f"({LOADED})(document.querySelector(\"{IMG.format(tag='samples', row=BIG)}\"))")
    elapsed = time.perf_counter() - t0
    assert shown(page, "samples", BIG)[0] == file_url(BIG, last)
    assert page.locator("[data-media-tag='samples'] [data-media-pos]").inner_text() == \
        f"step {last['step']} · {BIG_PER_TAG} / {BIG_PER_TAG}"
    n_img = page.evaluate("document.querySelectorAll('img').length")
    assert n_img < 40, f"{n_img} <img> in the page"              # 2 shown + 2 filmstrips of 15
    assert elapsed < 5, f"the media tab of 5,000 images took {elapsed:.1f}s to show its latest image"
    page.locator("[data-media-tag='samples'] [data-media-slider]").fill("0")
    assert shown(page, "samples", BIG)[0] == file_url(BIG, by_tag(big_run)["samples"][0])
    assert page.errors == []
