"""Front ends: the command line (``cli``), the HTTP service (``serve`` with ``review`` and ``feedback``), Spark, worker processes."""
