"""Load benchmarks for the omniforge rooms endpoint (and other y-websocket servers).

Run ``python -m benchmarks.fanout --help`` or ``python -m benchmarks.join --help``;
``benchmarks/README.md`` says what each measures and how.
"""
