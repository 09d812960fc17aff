"""report.html: the page's data agrees with the run folder, and a real browser (Chromium) shows it right.

The browser tests drive Debian's ``chromium`` through Playwright for Python; they skip, saying why,
where either is missing (``.ci/run`` installs the browser, the ``test`` extra installs Playwright).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import shutil
from pathlib import Path

import pytest

from corrector.correction.inference import guard, with_gate
from corrector.evaluation.page import PAGE_FILE, build_page, trial_data
from corrector.evaluation.systems import evaluate, write_outputs
from corrector.metrics import majority_vote, normalize
from corrector.nbest import NBestList

THRESHOLD = 0.5
SCRIPT = "<script>window.pwned=1</script>"
# trial id: (candidates, ground truth, the model's raw output, its margin over the majority candidate)
TRIALS = {
    "sub": (["call my sun", "call my sun", "call my son"], "call my son", "call my son", 2.0),  # fixes the vote
    "harm": (["turn the light off", "turn the light off", "turn a light off"], "turn the light off",
             "turn a light off", 1.0),  # a harmful edit the gate lets through
    "far": (["i am thirsty", "i am thirty", "i am thirsty"], "i am thirsty",
            "Sure! The corrected transcription is as follows", None),  # guard fallback
    "script": ([f"{SCRIPT} hello there", "hello there", "hello there"], "hello there", "hello there", None),
    "kept": (["good morning", "good mourning", "good mourning"], "good morning", "good morning", 0.2),  # gate
    "empty": ([], "nothing was decoded", "", None),  # no candidates
    "unscored": (["no truth"], None, "no truth", None),  # no ground truth: not on the page
}  # fmt: skip
FILTERS = ("all", "changed", "worse_base", "worse_vote", "fallbacks", "overrides")


def _evaluation():
    records, corrections = [], []
    for tid, (cands, truth, raw, margin) in TRIALS.items():
        r = NBestList.from_texts(tid, cands, truth)
        vote = majority_vote(r)
        records.append(r)
        corrections.append(with_gate(guard(r, raw, fallback_text=vote), vote, margin, THRESHOLD))
    meta = {"corrector": {"gate": THRESHOLD}}
    return evaluate(records, None, corrections, "test", n_boot=50, meta=meta, gated=True)


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("eval") / "run"
    write_outputs(_evaluation(), out)
    return out


def _errors(row: dict, system: str) -> int:
    return sum(row["errors"][system][k] for k in ("sub", "del", "ins"))


def expected(rows: list[dict], key: str, system: str) -> list[str]:
    """The trials a filter should show, from predictions-{partition}.jsonl alone."""
    test = {
        "all": lambda r: True,
        "changed": lambda r: normalize(r["hyps"][system]) != normalize(r["hyps"]["majority_vote"]),
        "worse_base": lambda r: _errors(r, system) > _errors(r, "candidate_1"),
        "worse_vote": lambda r: _errors(r, system) > _errors(r, "majority_vote"),
        "fallbacks": lambda r: r["fallback"] not in (None, "vote"),
        "overrides": lambda r: r["fallback"] == "vote",
    }[key]
    return [r["trial_id"] for r in rows if test(r)]


def _rows(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "predictions-test.jsonl").read_text().splitlines()]


def test_the_run_folder_holds_the_page_with_every_scored_trial(run):
    html = (run / PAGE_FILE).read_text()
    data = json.loads(re.search(r'<script type="application/json" id="data">(.*?)</script>', html, re.S).group(1))
    assert [t["id"] for t in data["trials"]] == [r["trial_id"] for r in _rows(run)]
    assert data["shown"] == ["candidate_1", "majority_vote", "corrected", "gated"] and data["threshold"] == 0.5
    assert 'src="data:image/png;base64,' in html  # wer.png inline: the page needs no other file
    sub = next(t for t in data["trials"] if t["id"] == "sub")
    assert sub["hyps"]["candidate_1"][1:] == ["call my sun", "==S", 1]
    assert sub["margin"] == 2.0 and sub["fallback"] is None
    assert (sub["distinct"], sub["candidates"], sub["agree"]) == (2, 3, 2)
    assert next(t for t in data["trials"] if t["id"] == "far")["raw"].startswith("Sure!")


def test_texts_cannot_leave_the_data_block_and_only_the_pages_script_may_run():
    rows = trial_data(_evaluation())
    html = build_page({"partition": "test", "systems": []}, rows)
    block = re.search(r'id="data">(.*?)</script>', html, re.S).group(1)
    assert "<" not in block and ">" not in block and "&" not in block  # "</script>" in a text cannot end it
    assert json.loads(block)["trials"][3]["hyps"]["candidate_1"][0] == f"{SCRIPT} hello there"
    script = re.search(r"<script>(.*?)</script>", html, re.S).group(1)
    digest = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
    assert f"script-src 'sha256-{digest}'" in html and "default-src 'none'" in html


def test_alignment_letters_match_the_error_counts(run):
    for row in trial_data(_evaluation()):
        for name, (_, norm, ops, errors) in row["hyps"].items():
            assert ops.count("=") + ops.count("S") + ops.count("D") == row["n"], (row["id"], name)
            assert ops.count("=") + ops.count("S") + ops.count("I") == len(norm.split())
            assert len(ops) - ops.count("=") == errors


# --- in a real browser -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def browser():
    sync_api = pytest.importorskip(
        "playwright.sync_api", reason="Playwright for Python is not installed (pip install playwright)"
    )
    candidates = (os.environ.get("CORRECTOR_CHROMIUM"), shutil.which("chromium"), "/usr/bin/chromium")
    path = next((p for p in candidates if p and os.access(p, os.X_OK)), None)
    if path is None:
        pytest.skip("no Chromium to open report.html in (apt-get install chromium, or set CORRECTOR_CHROMIUM)")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=path)
        yield b
        b.close()


@pytest.fixture
def page(browser, run):
    page = browser.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type in ("error", "warning") else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto((run / PAGE_FILE).as_uri())
    yield page, errors
    page.close()


def _shown(page) -> list[str]:
    return page.eval_on_selector_all(".trial", "els => els.map(e => e.dataset.trial)")


def test_the_page_opens_without_errors_and_shows_every_trial(page, run):
    page, errors = page
    rows = _rows(run)
    assert page.inner_text("#count") == f"{len(rows)} of {len(rows)} trials"
    assert _shown(page) == [r["trial_id"] for r in rows]
    assert page.input_value("#system") == "gated"
    assert errors == []


def test_each_filter_shows_exactly_the_trials_the_run_folder_says(page, run):
    page, errors = page
    rows = _rows(run)
    results = json.loads((run / "results.json").read_text())
    assert results["fallbacks"] == {"far": 1, "vote": 1, "no_candidates": 1}
    for system in ("gated", "corrected"):
        page.select_option("#system", system)
        for key in FILTERS:
            page.select_option("#filter", key)
            want = expected(rows, key, system)
            assert _shown(page) == want, (system, key)
            label = page.eval_on_selector(f'#filter option[value="{key}"]', "o => o.textContent")
            assert label.endswith(f"({len(want)})") and page.inner_text("#count").startswith(f"{len(want)} of ")
    page.select_option("#system", "gated")
    known = {"changed": ["sub", "harm"], "worse_base": ["harm", "kept"], "worse_vote": ["harm"]}
    for key, want in {**known, "fallbacks": ["far", "empty"], "overrides": ["kept"]}.items():
        page.select_option("#filter", key)
        assert _shown(page) == want, key
    assert len(_shown(page)) == results["fallbacks"]["vote"]  # gate overrides, as results.json counts them
    assert errors == []


def test_the_known_substitution_carries_its_marker(page):
    page, _ = page
    line = page.locator('.trial[data-trial="sub"] .line[data-system="candidate_1"]')
    sub = line.locator(".sub")
    assert sub.count() == 1
    assert sub.locator("s").inner_text() == "son" and sub.locator("sup").inner_text() == "S"
    assert "sun" in sub.inner_text()  # the hypothesis word, after the struck reference word
    gated = page.locator('.trial[data-trial="sub"] .line[data-system="gated"]')
    assert gated.locator(".sub, .del, .ins").count() == 0  # the corrector fixed it
    deletion = page.locator('.trial[data-trial="empty"] .line[data-system="gated"] .del sup')
    assert deletion.all_inner_texts() == ["D"] * 3


def test_a_candidate_holding_a_script_tag_is_shown_as_text(page):
    page, errors = page
    line = page.locator('.trial[data-trial="script"] .line[data-system="candidate_1"]')
    assert SCRIPT in line.inner_text()
    assert page.evaluate("window.pwned") is None
    assert page.evaluate("document.scripts.length") == 2  # the data block and the page's own script
    assert errors == []


def test_sort_by_wer_change_and_search(page):
    page, errors = page
    page.select_option("#sort", "vote_desc")
    assert _shown(page)[0] == "harm"  # the harmful edit first
    page.select_option("#sort", "vote_asc")
    assert _shown(page)[0] == "sub"  # the fixed vote first
    page.select_option("#sort", "order")
    page.fill("#search", "MOURNING")  # the list follows the search box after a short pause
    page.locator("#count", has_text="1 of").wait_for()
    assert _shown(page) == ["kept"]
    page.fill("#search", "")
    page.locator("#count", has_text="6 of").wait_for()
    page.fill("#search", "harm")
    page.locator("#count", has_text="1 of").wait_for()
    assert _shown(page) == ["harm"]  # by trial id
    assert errors == []
