import sys

from castiel.cli import main

sys.exit(main())
