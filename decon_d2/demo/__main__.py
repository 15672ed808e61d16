"""``python -m decon_d2.demo``: run the end-to-end demo (see ``pipeline``)."""
import sys

from .pipeline import main

sys.exit(main())
