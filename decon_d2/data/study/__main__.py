"""``python -m decon_d2.data.study``: build the learning-study data sets (see ``build``)."""
import sys

from .build import main

sys.exit(main())
