"""``python -m decon_d2.data.demo``: build the embedded demo data sets (see ``build``)."""
import sys

from .build import main

sys.exit(main())
