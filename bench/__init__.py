"""Load-benchmark harness: data generator, hand-written floor app, wrk runner and report."""
