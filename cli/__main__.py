"""``python -m hqvit.cli``: the same command as the ``hqvit`` console script."""

import sys

from hqvit.cli.main import main

sys.exit(main())
