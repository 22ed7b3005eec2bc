"""`python -m hil.link.proxy`: see hil/link/proxy/standalone.py."""

import sys

from hil.link.proxy.standalone import main

sys.exit(main())
