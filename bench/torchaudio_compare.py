"""The project's CTC decoder beside torchaudio's ``ctc_decoder`` on the same simulated logits and options.

    python bench/torchaudio_compare.py [--trials 100] [--beam-size 300] [--json FILE]

``corrector.decoding.decoder.ctc_decoder`` drives flashlight-text's ``LexiconDecoder`` under torchaudio's
option names; torchaudio's own factory (``torchaudio.models.decoder.ctc_decoder``, the decoder of
the seed's earlier runs) wraps the same engine. Both get the same lexicon file, tokens, ARPA
4-gram and emissions (the project's pre-processing applied once), with the seed's torchaudio
options (beam 300, lm_weight 2, word_score 0.1, log_add, sil_score 0, beam_threshold 1000). The
world is the demo corpus: an LM over its training sentences, a CMUdict lexicon of every corpus
word, and simulated Brain-to-Text logits of its held-out sentences. Reported: trials whose best
word sequence is identical, trials whose ten best distinct word sequences are identical (in order),
the largest difference of the best score, and the time per trial of each. Where torchaudio or its
decoder cannot be imported (PyPI's torchaudio wheels are CUDA builds pinned to one torch release)
it says so, with the reason, and exits 0.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
OPTIONS = {"beam_threshold": 1e3, "lm_weight": 2.0, "word_score": 0.1, "sil_score": 0.0, "log_add": True}
TOP = 10


def torchaudio_factory() -> tuple[Any, str]:
    """torchaudio's ``ctc_decoder`` and its version, or (None, why it cannot be used)."""
    try:
        import torchaudio
        from torchaudio.models.decoder import ctc_decoder
    except Exception as e:  # noqa: BLE001 - any import failure means: absent here
        return None, f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}".strip()
    return ctc_decoder, torchaudio.__version__


def build_world(root: Path, n_trials: int, noise: float) -> tuple[Path, Path, list, list[str]]:
    """Lexicon, ARPA 4-gram and simulated logits from the demo corpus (held-out sentences decoded)."""
    from corrector.decoding.corpus import DEMO_DIR, read_sentences, split_corpus
    from corrector.decoding.lexicon import build_lexicon, write_lexicon
    from corrector.decoding.lm import build_arpa
    from corrector.decoding.simulate import simulate_trials

    lm_text, _, test = split_corpus(read_sentences(DEMO_DIR / "sentences.txt"))
    words = sorted({w for s in lm_text.splitlines() + test for w in s.split()})
    lexicon, _ = build_lexicon(words)
    write_lexicon(lexicon, root / "lexicon.txt")
    # torchaudio's word dictionary needs the unknown word, which a lexicon file does not spell; the project's
    # decoder adds it the same way (a dictionary entry, no spelling in the trie).
    (root / "words.txt").write_text("\n".join([*lexicon, "<unk>"]) + "\n")
    (root / "lm.txt").write_text(lm_text)
    build_arpa(root / "lm.txt", root / "lm.arpa", order=4)
    sents = [test[i % len(test)] for i in range(n_trials)]
    return root / "lexicon.txt", root / "lm.arpa", simulate_trials(sents, noise=noise, seed=0), sents


def distinct(word_lists: Any, top: int) -> list[tuple[str, ...]]:
    """The first ``top`` distinct non-empty word sequences, in the given (best-first) order."""
    out: list[tuple[str, ...]] = []
    for words in word_lists:
        key = tuple(words)
        if key and key not in out:
            out.append(key)
            if len(out) == top:
                break
    return out


def compare(trials: int, beam_size: int, noise: float, acoustic_scale: float) -> dict[str, Any]:
    factory, version = torchaudio_factory()
    if factory is None:
        return {"status": "absent", "reason": f"torchaudio.models.decoder.ctc_decoder not importable ({version})"}
    import torch

    from corrector.decoding.decoder import ctc_decoder
    from corrector.decoding.units import BLANK, SIL, read_tokens

    tokens = read_tokens()
    with tempfile.TemporaryDirectory() as tmp:
        lexicon, arpa, logits, _ = build_world(Path(tmp), trials, noise)
        ours = ctc_decoder(
            lexicon, tokens, arpa, nbest=TOP, beam_size=beam_size, acoustic_scale=acoustic_scale, **OPTIONS
        )
        theirs = factory(
            lexicon=str(lexicon), tokens=tokens, lm=str(arpa), lm_dict=str(lexicon.with_name("words.txt")),
            nbest=beam_size, beam_size=beam_size,
            blank_token=BLANK, sil_token=SIL, **OPTIONS,
        )  # fmt: skip
        same1 = same10 = 0
        max_score_diff = 0.0
        t_ours = t_theirs = 0.0
        for trial in logits:
            em = ours.emissions(trial)
            t0 = time.perf_counter()
            a = ours(trial)
            t1 = time.perf_counter()
            b = theirs(torch.from_numpy(em)[None])[0]
            t2 = time.perf_counter()
            t_ours, t_theirs = t_ours + t1 - t0, t_theirs + t2 - t1
            a_top = [h.words for h in a]
            b_top = distinct((h.words for h in b), TOP)
            same1 += bool(a_top) and bool(b_top) and a_top[0] == b_top[0]
            same10 += a_top == b_top
            if a and b:
                max_score_diff = max(max_score_diff, abs(a[0].score - b[0].score))
    return {
        "status": "ok",
        "torchaudio": version,
        "trials": len(logits),
        "same_top1": same1,
        "same_top10": same10,
        "max_top1_score_diff": max_score_diff,
        "ms_per_trial_corrector": round(1000 * t_ours / len(logits), 2),
        "ms_per_trial_torchaudio": round(1000 * t_theirs / len(logits), 2),
        "options": {"beam_size": beam_size, "acoustic_scale": acoustic_scale, **OPTIONS},
    }


def describe(result: dict[str, Any]) -> str:
    if result["status"] != "ok":
        return f"torchaudio comparison: {result['status']}: {result['reason']}"
    n = result["trials"]
    return (
        f"torchaudio {result['torchaudio']} vs corrector.decoding.decoder on {n} simulated trials "
        f"(beam {result['options']['beam_size']}): identical top-1 {result['same_top1']}/{n}, "
        f"identical top-{TOP} {result['same_top10']}/{n}, largest top-1 score difference "
        f"{result['max_top1_score_diff']:.2g}; ms per trial {result['ms_per_trial_corrector']} (corrector) vs "
        f"{result['ms_per_trial_torchaudio']} (torchaudio)"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=100)
    parser.add_argument("--beam-size", type=int, default=300)
    parser.add_argument("--noise", type=float, default=0.17)
    parser.add_argument("--acoustic-scale", type=float, default=0.6)
    parser.add_argument("--json", type=Path, help="write the result here")
    opts = parser.parse_args(argv)
    result = compare(opts.trials, opts.beam_size, opts.noise, opts.acoustic_scale)
    print(describe(result))
    if opts.json:
        opts.json.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    sys.exit(main())
