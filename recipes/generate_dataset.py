"""Generate a corrector dataset of N-best lists from logits: same flags as ``corrector generate``."""

import sys

from corrector.cli.generate import main

if __name__ == "__main__":
    sys.exit(main())
