#!/usr/bin/env bash
# Generate corrector N-best datasets for both Brain-to-Text years (the seed's generate_corrector_dataset.sh).
# Paths come from environment variables; any extra arguments go to every run (e.g. --num-workers 8).
#   B2T24_LOGITS, B2T24_TRANSCRIPTS, B2T25_LOGITS, B2T25_TRANSCRIPTS   logits (.npz) and transcripts (.pkl)
#   LEXICON, WORD_LM                                                    phoneme lexicon and KenLM 4-gram
#   TOKENS (default: the 41 units), OUT_DIR (default: data/corrector), PYTHON (default: python)
set -euo pipefail
: "${B2T24_LOGITS:?set B2T24_LOGITS}" "${B2T24_TRANSCRIPTS:?set B2T24_TRANSCRIPTS}"
: "${B2T25_LOGITS:?set B2T25_LOGITS}" "${B2T25_TRANSCRIPTS:?set B2T25_TRANSCRIPTS}"
: "${LEXICON:?set LEXICON}" "${WORD_LM:?set WORD_LM}"
OUT_DIR="${OUT_DIR:-data/corrector}"
PYTHON="${PYTHON:-python}"
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
tokens=()
if [[ -n "${TOKENS:-}" ]]; then tokens=(--tokens "$TOKENS"); fi

for year in 24 25; do
  logits_var="B2T${year}_LOGITS"
  transcripts_var="B2T${year}_TRANSCRIPTS"
  "$PYTHON" "$HERE/recipes/generate_dataset.py" \
    --logits-path "${!logits_var}" \
    --transcripts-path "${!transcripts_var}" \
    --output-path "$OUT_DIR/b2t_${year}_corrector_train.jsonl" \
    --lexicon "$LEXICON" --word-lm-path "$WORD_LM" "${tokens[@]}" \
    --beam-size 300 --top-n 100 --acoustic-scale 0.4 --alpha-ngram 1.0 \
    --partition train "$@"
done
echo "datasets in $OUT_DIR: b2t_24_corrector_train{.jsonl,/} and b2t_25_corrector_train{.jsonl,/}"
