"""`python -m servers MODEL module:callable [options]`."""

import sys

from servers.cli import main

sys.exit(main())
