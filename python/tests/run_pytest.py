"""Runs python/tests with pytest for CTest; exits 77 (CTest: skipped) when the
interpreter lacks numpy or pytest (scripts/python-env makes the venv that has
them), or fails (exit 2) then when LOGITKIT_REQUIRE_PEERS=1, as scripts/test sets."""

import os
import sys

try:
    import numpy  # noqa: F401
    import pytest
except ImportError as e:
    print(f"python_module: {e} (run scripts/python-env)")
    sys.exit(2 if os.environ.get("LOGITKIT_REQUIRE_PEERS") == "1" else 77)

sys.exit(pytest.main(["-q", "-p", "no:cacheprovider", os.path.dirname(os.path.abspath(__file__))] + sys.argv[1:]))
