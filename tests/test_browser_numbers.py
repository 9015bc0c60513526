"""One number formatter (static/util.js ``fmt``, and the server's ``tb_num`` by the same rules):
a value reads the same in a run's chart (title, last/best table, tooltip) as in the compare
table, non-finite values included, under the page CSP with no console error or violation.
Non-finite values never reach either (the metrics API sends null, a summary drops them): both
show "–"; the formatter itself writes "NaN", "∞", "−∞" in the browser as on the server."""
from __future__ import annotations

import pytest

from live_clients import start_server, stop_server
from test_browser_xss import violations, watch
from builders import csv_rows
from test_compare import sweep_run
from viewer.web.glue import tb_num


# logged at every step, so any point the cursor lands on shows it, and kept as the run's summary
FINITE = {"fmt/huge": 12345678.9, "fmt/tiny": 0.000012345, "fmt/whole": 2000000, "fmt/mid": 123456.7,
          "fmt/third": 0.333333333, "fmt/neg": -0.00098765}
# as they read, in the chart and in the table
EXPECTED = {"fmt/huge": "1.235e+7", "fmt/tiny": "1.234e-5", "fmt/whole": "2000000", "fmt/mid": "123500",
            "fmt/third": "0.3333", "fmt/neg": "-9.877e-4"}
NON_FINITE = {"fmt/nan": float("nan"), "fmt/inf": float("inf"), "fmt/ninf": float("-inf")}
GAP = [1.5, float("nan"), 2.5]   # "fmt/gap" at steps 1, 2, 3: the cursor mid-plot lands on the NaN
# the formatter's cases: non-finite, ties (JavaScript rounds them away from zero), the cut-offs
CASES = [float("nan"), float("inf"), float("-inf"), 0.0, -0.0, 1234.5, -1234.5, 0.00012345, 999999.5, 1e6, 1e9,
         123456789, -42, 0.001, 0.000999996, 5e-324, 1.7976931348623157e308, 0.1 + 0.2]
RUN, OTHER = "fmt/a", "fmt/b"


@pytest.fixture
def server(tmp_path):
    root = tmp_path / "runs"
    summary = {**FINITE, **NON_FINITE, "fmt/gap": GAP[1]}
    rows = [{"step": s, **FINITE, "fmt/gap": GAP[s - 1]} for s in (1, 2, 3)]
    sweep_run(root, RUN, {"seed": 0}, summary, metrics=csv_rows(rows))
    sweep_run(root, OTHER, {"seed": 1}, {k: 1 for k in summary})   # a second column: every row differs
    proc, url = start_server("flask", root)
    yield url
    stop_server(proc)


def compare_cells(page):
    """The compare table's cell of RUN for each summary key."""
    col = page.locator("th.compare-run").evaluate_all(
        "(ths, rid) => ths.findIndex((th) => th.dataset.run === rid)", RUN)
    assert col >= 0
    out = {}
    for key in [*FINITE, *NON_FINITE, "fmt/gap"]:
        out[key] = page.locator(f"tr.compare-row[data-key='m:{key}'] td").nth(col).inner_text().strip()
    return out


def test_a_value_reads_the_same_in_the_chart_and_the_compare_table(page, server):
    watch(page)
    page.goto(server + "/compare?run=" + RUN + "&run=" + OTHER + "&tab=table")
    page.wait_for_selector("table.compare-table")
    table = compare_cells(page)
    assert {k: table[k] for k in FINITE} == EXPECTED
    assert {table[k] for k in NON_FINITE} == {"–"}      # not set: the summary drops them
    assert table["fmt/gap"] == "2.5"                    # its last finite value, as the chart's "last"

    page.goto(server + "/runs/" + RUN)
    page.wait_for_selector(".chart-card[data-metric='fmt/huge'] .u-over")
    for name, text in [*EXPECTED.items(), ("fmt/gap", "–")]:
        card = page.locator(f".chart-card[data-metric='{name}']")
        card.scroll_into_view_if_needed()
        last = table[name]
        assert card.locator(".chart-title .sub").inner_text().startswith("last " + last + " ·"), name
        assert card.locator(".chart-table tbody td.num").first.inner_text() == last, name
        # the tooltip, with the cursor mid-plot (step 2; NaN there for fmt/gap, shown as "–")
        page.mouse.move(0, 0)
        card.locator(".u-over").hover()
        tip = card.locator(".chart-tip .tip-val")
        tip.wait_for(state="visible")
        assert tip.inner_text() == text, name
    # the module the charts import formats as the server does, case by case
    shown = page.evaluate("""async (values) => {
      const entry = document.querySelector('script[type=module]').src;   // .../-/static/pages/run.js
      const { fmt } = await import(new URL('../util.js', entry).href);
      return values.map(fmt);
    }""", CASES)
    assert shown == [tb_num(v) for v in CASES]
    assert shown[:3] == ["NaN", "∞", "−∞"]
    assert page.errors == [] and page.console_csp == [] and violations(page) == []
