"""``python -m tools.study``: run the CPU learning study (see ``pipeline``)."""
import sys

from tools.study.pipeline import main

sys.exit(main())
