"""``python -m tools.demo``: run the end-to-end demo (see ``pipeline``)."""
import sys

from tools.demo.pipeline import main

sys.exit(main())
