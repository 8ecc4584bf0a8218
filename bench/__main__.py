"""`python -m bench`: what scripts/bench runs once the environment is ready."""

import sys

from bench.run import main

sys.exit(main())
