"""``report.html``: one self-contained page per evaluation run, the systems table and a per-trial error browser.

The page opens from disk with no network: CSS, script, data and figures are inline, and a
Content-Security-Policy lets only the page's own script run (by its hash) and fetch nothing. For
each trial it shows the reference, candidate 1, the majority vote, the corrector's output and the
gated output, each aligned to the reference word by word (the scored, normalised words, with
sclite's weights as in the ``errs-`` files): substitutions, deletions and insertions are coloured
and carry a letter (S, D, I) so they read without colour too. Trial texts are user data: they
travel as JSON in a non-executed ``<script type="application/json">`` block and the script only
ever puts them into the page as text nodes.

``trial_data`` turns an evaluation into the page's rows and ``build_page`` renders the page from
them and the ``results.json`` mapping: the page is a pure function of what the evaluation holds.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import math
from collections.abc import Mapping, Sequence
from typing import Any

from corrector.evaluation.reports import word_alignment
from corrector.metrics import ErrorCounts, normalize
from corrector.nbest import input_name

PAGE_FILE = "report.html"
# Systems every trial shows, in this order, where the evaluation has them; any other system can be studied.
SHOWN = ("candidate_1", "majority_vote", "corrected", "gated")
_SKIP = ("oracle",)  # picks with the ground truth: nothing to browse


def _ops(ref: Sequence[str], hyp: Sequence[str]) -> str:
    """The alignment as one letter per pair: ``=`` correct, ``S`` substitution, ``D`` deletion, ``I`` insertion."""
    return "".join(
        "I" if r is None else "D" if h is None else "=" if r == h else "S" for r, h in word_alignment(ref, hyp)
    )


def _vote_support(record: Any, vote: str) -> dict[str, int]:
    """Distinct candidates, and how many candidates (and pooled inputs) hold the majority candidate."""
    key = normalize(vote)
    cands = record.candidates
    inputs = {input_name(c) for c in cands}
    agreeing = [c for c in cands if key and normalize(c.text) == key]
    out = {
        "candidates": len(cands),
        "distinct": len({normalize(c.text) for c in cands} - {""}),
        "agree": len(agreeing),
    }
    if len(inputs) > 1:  # a pooled list: say how many decoders' lists hold the vote
        out.update(inputs=len(inputs), inputs_agree=len({input_name(c) for c in agreeing}))
    return out


def trial_data(ev: Any) -> list[dict[str, Any]]:
    """One row per scored trial of ``ev`` (a ``corrector.evaluation.systems.Evaluation``): texts, alignments, gate.

    ``hyps[system]`` is ``[text, normalised words, alignment letters, errors]``; ``fallback``,
    ``margin`` and ``raw`` come from the corrector's ``Correction`` where there is one.
    """
    systems = [s for s in ev.hyps if s not in _SKIP]
    rows = []
    for i, record in enumerate(ev.records):
        ref = normalize(record.ground_truth)
        ref_words = ref.split()
        hyps = {}
        for name in systems:
            text = ev.hyps[name][i]
            norm = normalize(text)
            c: ErrorCounts = ev.counts[name][i]
            hyps[name] = [text, norm, _ops(ref_words, norm.split()), c.errors]
        row: dict[str, Any] = {
            "id": record.trial_id,
            "reference": record.ground_truth,
            "ref": ref,
            "n": len(ref_words),
            "hyps": hyps,
            **_vote_support(record, ev.hyps["majority_vote"][i]),
        }
        if ev.corrections is not None:
            c = ev.corrections[i]
            finite = c.margin is not None and math.isfinite(c.margin)
            row.update(fallback=c.fallback, margin=round(c.margin, 4) if finite else None)
            if c.raw and c.raw.strip() != c.ungated_text:
                row["raw"] = c.raw
        rows.append(row)
    return rows


def _json_for_script(data: Any) -> str:
    """JSON that cannot end its ``<script>`` block or open a comment: ``<``, ``>`` and ``&`` as escapes."""
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _cell(x: Any, spec: str) -> str:
    return "–" if x is None or (isinstance(x, float) and math.isnan(x)) else format(x, spec)


def _systems_table(results: Mapping[str, Any]) -> str:
    head = (
        "system", "WER %", "95% CI", "rel. reduction %", "gap closed", "harmful edits %", "p vs cand. 1",
        "p vs vote", "S / D / I",
    )  # fmt: skip
    rows = []
    for s in results.get("systems", []):
        ci = s.get("ci") or [None, None]
        cells = [
            s["name"],
            _cell(s["wer"], ".2f"),
            f"[{_cell(ci[0], '.2f')}, {_cell(ci[1], '.2f')}]",
            _cell(s["rel_reduction"], ".1f"),
            _cell(s.get("recoverable_gap"), ".2f"),
            _cell(s["harmful_edit_rate"], ".1f"),
            _cell(s.get("p_value"), ".3f"),
            _cell(s.get("p_vs_vote"), ".3f"),
            f"{s['sub']} / {s['del']} / {s['ins']}",
        ]
        rows.append("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in cells) + "</tr>")
    header = "".join(f"<th>{html.escape(h)}</th>" for h in head)
    return f'<table class="systems"><thead><tr>{header}</tr></thead><tbody>{"".join(rows)}</tbody></table>'


def _threshold(results: Mapping[str, Any]) -> float | str | None:
    gate = (results.get("corrector") or {}).get("gate")
    return gate if isinstance(gate, str) else None if gate is None else float(gate)


def build_page(
    results: Mapping[str, Any],
    trials: Sequence[Mapping[str, Any]],
    figures: Mapping[str, bytes] | None = None,
    notes: str = "",
) -> str:
    """The whole page as one string.

    ``results``: the mapping written to ``results.json`` (the systems table, partition, the
    corrector's gate); ``trials``: ``trial_data`` rows; ``figures``: PNG bytes by name, shown inline;
    ``notes``: the sentence under the table (trial and fallback counts).
    """
    partition = str(results.get("partition", ""))
    title = f"corrector evaluation: {partition} ({len(trials)} trials)"
    systems = [s for s in SHOWN if trials and s in trials[0]["hyps"]]
    others = [s for s in (trials[0]["hyps"] if trials else {}) if s not in systems]
    data = {
        "trials": list(trials),
        "shown": systems,
        "others": others,
        "threshold": _threshold(results),
        "corrections": bool(trials) and "fallback" in trials[0],
    }
    script = _SCRIPT
    digest = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
    csp = (
        "default-src 'none'; img-src data:; style-src 'unsafe-inline'; "
        f"script-src 'sha256-{digest}'; base-uri 'none'; form-action 'none'"
    )
    imgs = "".join(
        f'<figure><img alt="{html.escape(name)}" src="data:image/png;base64,{base64.b64encode(png).decode()}">'
        f"<figcaption>{html.escape(name)}</figcaption></figure>"
        for name, png in (figures or {}).items()
    )
    return _TEMPLATE.format(
        csp=html.escape(csp, quote=False),  # base64 and single quotes only, in a double-quoted attribute
        title=html.escape(title),
        table=_systems_table(results),
        notes=html.escape(notes),
        figures=imgs,
        data=_json_for_script(data),
        script=script,
    )


_TEMPLATE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{csp}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>
body {{ font: 14px/1.45 system-ui, sans-serif; margin: 1.5em; color: #222; }}
h1 {{ font-size: 1.3em; }} h2 {{ font-size: 1.1em; margin-top: 1.5em; }}
table.systems {{ border-collapse: collapse; }}
table.systems td, table.systems th {{ border: 1px solid #ccc; padding: 2px 8px; text-align: right; }}
table.systems td:first-child, table.systems th:first-child {{ text-align: left; }}
figure {{ margin: 1em 0; }} figure img {{ max-width: min(100%, 760px); }}
#controls {{ position: sticky; top: 0; background: #fff; padding: 6px 0; border-bottom: 1px solid #ccc;
  display: flex; flex-wrap: wrap; gap: 10px; align-items: center; z-index: 1; }}
#legend {{ color: #555; }}
/* trials off screen are neither laid out nor painted: filters on 1,500 trials stay quick */
.trial {{ border-bottom: 1px solid #e4e4e4; padding: 6px 0; content-visibility: auto;
  contain-intrinsic-size: auto 140px; }}
.head {{ color: #444; }} .head b {{ color: #000; }}
.line {{ display: grid; grid-template-columns: 9em 1fr; gap: 8px; }}
.line .who {{ color: #666; }}
.orig {{ color: #777; font-size: 0.9em; }}
.sub {{ background: #fde2b8; }} .del {{ background: #f8c9c9; }} .ins {{ background: #c9dcf8; }}
.sub s, .del s {{ color: #8a3b3b; }}
sup {{ font-weight: bold; font-size: 0.7em; }}
.worse {{ color: #b00020; }} .better {{ color: #11702d; }}
#more {{ margin: 1em 0; }}
</style>
</head>
<body>
<h1>{title}</h1>
<h2>Systems</h2>
{table}
<p>{notes}</p>
{figures}
<h2>Trials</h2>
<div id="controls">
<label>system <select id="system"></select></label>
<label>show <select id="filter"></select></label>
<label>sort <select id="sort">
<option value="order">trial order</option>
<option value="vote_desc">WER change vs vote, worst first</option>
<option value="vote_asc">WER change vs vote, best first</option>
<option value="base_desc">WER change vs candidate 1, worst first</option>
<option value="base_asc">WER change vs candidate 1, best first</option>
</select></label>
<label>search <input id="search" type="search" placeholder="trial id or text"></label>
<span id="count" role="status"></span>
</div>
<p id="legend">Words are the scored (normalised) words aligned to the reference:
<span class="sub"><s>ref</s> hyp<sup>S</sup></span> substitution,
<span class="del"><s>ref</s><sup>D</sup></span> deletion (a reference word missing),
<span class="ins">hyp<sup>I</sup></span> insertion. WER change: the trial's WER of the chosen system minus that
of the vote or of candidate 1, in points. Fallbacks: the guard replaced an empty or far output (or the trial
had no candidates); gate overrides: the gate kept the vote over the model's differing output.</p>
<div id="trials"></div>
<button id="more" type="button" hidden>show more</button>
<script type="application/json" id="data">{data}</script>
<script>{script}</script>
</body>
</html>
"""

_SCRIPT = r"""
(function () {
  "use strict";
  var D = JSON.parse(document.getElementById("data").textContent);
  var T = D.trials, CHUNK = 100, VOTE = "majority_vote", BASE = "candidate_1";
  var $ = function (id) { return document.getElementById(id); };
  var LABEL = {candidate_1: "candidate 1", majority_vote: "vote", corrected: "corrected", gated: "gated"};
  var FILTERS = [
    ["all", "all trials"],
    ["changed", "changed vs the vote"],
    ["worse_base", "worse than candidate 1"],
    ["worse_vote", "worse than the vote"]
  ];
  if (D.corrections) FILTERS.push(["fallbacks", "fallbacks"], ["overrides", "gate overrides"]);
  T.forEach(function (t) {  // lower-cased searchable text of each trial
    var parts = [t.id, t.reference || ""];
    for (var s in t.hyps) parts.push(t.hyps[s][0]);
    t.search = parts.join("\n").toLowerCase();
  });
  var candidates = D.shown.filter(function (s) { return s !== BASE && s !== VOTE; }).reverse().concat(D.others);
  var sysSel = $("system");
  candidates.forEach(function (s) { sysSel.add(new Option(s, s)); });
  if (!candidates.length) sysSel.add(new Option(VOTE, VOTE));
  var filterSel = $("filter");
  function rate(t, s) { return t.n ? 100 * t.hyps[s][3] / t.n : 100 * t.hyps[s][3]; }
  function test(key, t, s) {
    var h = t.hyps[s];
    switch (key) {
      case "changed": return h[1] !== t.hyps[VOTE][1];
      case "worse_base": return h[3] > t.hyps[BASE][3];
      case "worse_vote": return h[3] > t.hyps[VOTE][3];
      case "fallbacks": return t.fallback != null && t.fallback !== "vote";
      case "overrides": return t.fallback === "vote";
      default: return true;
    }
  }
  function labelFilters() {
    var s = sysSel.value, keep = filterSel.value || "all";
    filterSel.textContent = "";
    FILTERS.forEach(function (f) {
      var n = 0;
      for (var i = 0; i < T.length; i++) if (test(f[0], T[i], s)) n++;
      filterSel.add(new Option(f[1] + " (" + n + ")", f[0]));
    });
    filterSel.value = keep;
  }
  function el(tag, cls, txt) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (txt != null) e.textContent = txt;
    return e;
  }
  function aligned(ref, h) {
    var out = el("span", "words"), r = ref ? ref.split(" ") : [], w = h[1] ? h[1].split(" ") : [];
    var i = 0, j = 0, ops = h[2];
    for (var k = 0; k < ops.length; k++) {
      var op = ops[k], span;
      if (op === "=") { span = document.createTextNode(w[j]); i++; j++; }
      else if (op === "S") {
        span = el("span", "sub"); span.title = "substitution";
        span.append(el("s", null, r[i]), " " + w[j], el("sup", null, "S")); i++; j++;
      } else if (op === "D") {
        span = el("span", "del"); span.title = "deletion";
        span.append(el("s", null, r[i]), el("sup", null, "D")); i++;
      } else {
        span = el("span", "ins", w[j]); span.title = "insertion";
        span.append(el("sup", null, "I")); j++;
      }
      if (k) out.append(" ");
      out.append(span);
    }
    if (!ops.length) out.append(el("i", null, "(empty)"));
    return out;
  }
  function line(who, content, orig) {
    var d = el("div", "line");
    d.append(el("span", "who", who));
    var c = el("span");
    c.append(content);
    if (orig != null) { c.append(" "); c.append(el("span", "orig", orig)); }
    d.append(c);
    return d;
  }
  function num(x) { return (x > 0 ? "+" : "") + x.toFixed(1); }
  function delta(label, x) {
    return el("span", x > 0 ? "worse" : x < 0 ? "better" : null, label + " " + num(x));
  }
  function gateNote(t) {
    var vs = function (op) { return D.threshold == null ? "" : " " + op + " threshold " + D.threshold; };
    if (t.fallback === "vote") return "gate kept the vote (margin " + t.margin + vs("\u2264") + ")";
    if (t.fallback === "no_candidates") return "no candidates: empty prediction";
    if (t.fallback) return "guard fallback: " + t.fallback + " output replaced";
    if (t.margin != null) return "gate passed the output (margin " + t.margin + vs(">") + ")";
    return "output agrees with the vote";
  }
  function render(t, s) {
    var box = el("div", "trial");
    box.dataset.trial = t.id;
    var head = el("div", "head");
    head.append(el("b", null, t.id), " · " + s + ": ",
      delta("vs vote", rate(t, s) - rate(t, VOTE)), ", ", delta("vs candidate 1", rate(t, s) - rate(t, BASE)),
      " WER points · " + t.distinct + " distinct candidates · the vote's text: " + t.agree + " of " + t.candidates +
      " candidates" + (t.inputs ? ", in " + t.inputs_agree + " of " + t.inputs + " pooled decoders' lists" : ""));
    if (D.corrections) head.append(" · ", el("span", "gate", gateNote(t)));
    box.append(head);
    box.append(line("reference", el("span", null, t.ref), t.reference === t.ref ? null : t.reference));
    var lines = D.shown.slice();
    if (lines.indexOf(s) < 0) lines.push(s);
    lines.forEach(function (name) {
      var h = t.hyps[name];
      var l = line(LABEL[name] || name, aligned(t.ref, h), h[0] === h[1] ? null : h[0]);
      l.dataset.system = name;
      box.append(l);
    });
    if (t.raw != null) box.append(line("raw output", el("span", "orig", t.raw)));
    return box;
  }
  var matched = [], shown = 0, timer = null;
  function more() {
    var s = sysSel.value, frag = document.createDocumentFragment(), end = Math.min(matched.length, shown + CHUNK);
    for (; shown < end; shown++) frag.append(render(matched[shown], s));
    $("trials").append(frag);
    $("more").hidden = shown >= matched.length;
  }
  function update() {
    var s = sysSel.value, f = filterSel.value, q = $("search").value.trim().toLowerCase(), order = $("sort").value;
    matched = T.filter(function (t) { return test(f, t, s) && (!q || t.search.indexOf(q) >= 0); });
    if (order !== "order") {
      var other = order.indexOf("vote") === 0 ? VOTE : BASE, sign = /desc$/.test(order) ? -1 : 1;
      var key = new Map(matched.map(function (t) { return [t, rate(t, s) - rate(t, other)]; }));
      matched = matched.map(function (t, i) { return [t, i]; }).sort(function (a, b) {
        return sign * (key.get(a[0]) - key.get(b[0])) || a[1] - b[1];
      }).map(function (p) { return p[0]; });
    }
    $("trials").textContent = "";
    shown = 0;
    more();
    $("count").textContent = matched.length + " of " + T.length + " trials";
  }
  sysSel.addEventListener("change", function () { labelFilters(); update(); });
  filterSel.addEventListener("change", update);
  $("sort").addEventListener("change", update);
  $("search").addEventListener("input", function () { clearTimeout(timer); timer = setTimeout(update, 120); });
  $("more").addEventListener("click", more);
  if ("IntersectionObserver" in window) {
    new IntersectionObserver(function (es) { if (es[0].isIntersecting && shown < matched.length) more(); })
      .observe($("more"));
  }
  labelFilters();
  update();
})();
"""
