"""How fast ``report.html`` opens and filters in Chromium (Playwright driving the system browser).

    python bench/report_page.py outputs/eval/report.html [--runs 5] [--chromium /usr/bin/chromium]
    python bench/report_page.py --b2t24 ../shared/data/b2t24_val_nbest --out outputs/bench_report

``--b2t24 DIR`` first builds a run folder of 1,426 real trials: the 880 Brain-to-Text '24 validation
trials with the ``bi`` and ``uni`` lists pooled, then the first 546 with the ``wfst_bi`` and
``wfst_uni`` lists pooled (ids prefixed ``biuni-`` / ``wfst-``). Its ``corrected`` system is a
stand-in, not a model, so that every line and filter of the page has trials: the word-level vote
(ROVER) of the trial as the raw output, through the real guard and gate (threshold 0) with the
margin log((candidates equal to it) + 0.5) - log(candidates equal to the majority candidate).

Each run opens the page in a fresh tab from disk and reads, from the browser's own clock: the first
contentful paint (the page's script runs before it, so the first trials are drawn by then) and the
load event; then, for each filter and for sorting by WER change, the time from the ``change`` event
to the next frame (the list rebuilt and laid out), and for a search, from the ``input`` event to
the frame after the list changed (this includes the search box's 120 ms pause). Prints medians.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

# The paint entries, once the browser has recorded the first contentful paint.
FIRST_PAINT = """() => new Promise(resolve => new PerformanceObserver((list, obs) => {
  const fcp = list.getEntries().find(e => e.name === "first-contentful-paint");
  if (fcp) { obs.disconnect(); resolve({"first-contentful-paint": fcp.startTime}); }
}).observe({type: "paint", buffered: true}))"""
# Runs in the page (through the DevTools protocol, which the page's Content-Security-Policy allows).
MEASURE = """async () => {
  const frame = () => new Promise(r => requestAnimationFrame(() => setTimeout(r, 0)));
  const out = {};
  const change = async (id, value) => {
    const el = document.getElementById(id), t = performance.now();
    el.value = value;
    el.dispatchEvent(new Event("change"));
    await frame();
    return performance.now() - t;
  };
  for (const o of [...document.getElementById("filter").options]) out["filter " + o.value] = await change("filter", o.value);
  await change("filter", "all");
  out["sort vote_desc"] = await change("sort", "vote_desc");
  await change("sort", "order");
  const box = document.getElementById("search"), count = document.getElementById("count");
  const before = count.textContent, t = performance.now();
  box.value = "the";
  box.dispatchEvent(new Event("input"));
  while (count.textContent === before) await new Promise(r => setTimeout(r, 5));
  await frame();
  out["search 'the' (incl. 120 ms pause)"] = performance.now() - t;
  return out;
}"""


def once(browser, url: str) -> dict[str, float]:
    page = browser.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(url, wait_until="load")
    paint = page.evaluate(FIRST_PAINT)
    load = page.evaluate("() => performance.getEntriesByType('navigation')[0].loadEventEnd")
    timings = {"first contentful paint": paint["first-contentful-paint"], "load event": load}
    timings.update(page.evaluate(MEASURE))
    page.close()
    if errors:
        sys.exit(f"page errors: {errors}")
    return timings


def b2t24_run(data: Path, out: Path) -> Path:
    """The 1,426-trial run folder described above; returns its report.html."""
    import math
    from dataclasses import replace

    from corrector.correction.inference import guard, with_gate
    from corrector.data.pooling import pool_sources
    from corrector.evaluation.rover import rover
    from corrector.evaluation.systems import evaluate, write_outputs
    from corrector.metrics import majority_vote, normalize

    pools = [("biuni", ("bi", "uni"), 880), ("wfst", ("wfst_bi", "wfst_uni"), 546)]
    records = []
    for prefix, names, n in pools:
        pooled = pool_sources([data / f"val_b2t_24_{name}.jsonl" for name in names])[:n]
        records += [replace(r, trial_id=f"{prefix}-{r.trial_id}") for r in pooled]
    corrections = []
    for r in records:
        vote, raw = majority_vote(r), rover(r)

        def count(text: str, r=r) -> int:
            return sum(normalize(c.text) == normalize(text) for c in r.candidates)

        margin = math.log(count(raw) + 0.5) - math.log(max(count(vote), 1))
        corrections.append(with_gate(guard(r, raw, 0.5, vote), vote, margin, 0.0))
    meta = {"corrector": {"kind": "stand-in (ROVER output, count-ratio margin)", "gate": 0.0}}
    ev = evaluate(records, None, corrections, "all", meta=meta, gated=True)
    write_outputs(ev, out)
    return out / "report.html"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("page", type=Path, nargs="?", help="a report.html")
    p.add_argument("--b2t24", type=Path, help="build the 1,426-trial run from this folder's val_b2t_24_*.jsonl")
    p.add_argument("--out", type=Path, default=Path("outputs/bench_report"), help="the run folder --b2t24 writes")
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--chromium", default="/usr/bin/chromium")
    args = p.parse_args()
    if args.b2t24:
        args.page = b2t24_run(args.b2t24, args.out)
    elif args.page is None:
        p.error("give a report.html or --b2t24 DIR")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=args.chromium)
        once(browser, args.page.resolve().as_uri())  # warm the file cache and the browser
        runs = [once(browser, args.page.resolve().as_uri()) for _ in range(args.runs)]
        trials = browser.new_page()
        trials.goto(args.page.resolve().as_uri())
        shown = trials.inner_text("#count")
        browser.close()
    size = args.page.stat().st_size / 2**20
    print(f"{args.page}: {size:.2f} MiB, {shown}; medians of {args.runs} runs (min-max), ms")
    for key in runs[0]:
        values = [r[key] for r in runs]
        print(f"  {key:40s} {statistics.median(values):8.1f}  ({min(values):.1f}-{max(values):.1f})")


if __name__ == "__main__":
    main()
