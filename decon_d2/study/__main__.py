"""``python -m decon_d2.study``: run the CPU learning study (see ``pipeline``)."""
import sys

from .pipeline import main

sys.exit(main())
