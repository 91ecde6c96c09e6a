"""``python -m linerec``: the same command line as the ``linerec`` script."""

import sys

from linerec.cli import main

sys.exit(main())
