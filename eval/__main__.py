"""``python -m eval ARGS``: the same as ``rag eval ARGS``."""

import sys

from eval.cli import main

sys.exit(main())
