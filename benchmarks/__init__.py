"""taskgroup's benchmark suite: speed, scaling, selection parity and grouping quality.

``python -m benchmarks [--smoke] [--out DIR]`` runs every benchmark and writes ``RESULTS.md`` and
``results.json``; each module also runs alone (``python -m benchmarks.probe_speed``) and prints
one JSON object per line on stdout.
"""
