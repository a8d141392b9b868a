"""jupyter_omniforge side by side with the servers a user would pick instead (issue 6).

``python -m benchmarks.compare`` starts each server fresh on loopback for each workload — the
y-websocket reference server, Hocuspocus, jupyter-server-ydoc's rooms, and ours embedded and
with Redis — runs the same workload against each with the same load generator
(``benchmarks.loadgen``), stops it, and appends a Markdown table (each server's figure, our
ratio to the best peer, core count, versions) to ``benchmarks/results/compare.md`` with a PNG
plot beside it. ``benchmarks/README.md`` ("Side by side") says how to set up the peers and
what each workload measures.

Modules: ``contenders`` (the servers), ``config`` (sizes, ``--quick``), one module per workload
(``fanout``, ``rate``, ``rooms``, ``join``, ``memory``, ``awareness``, ``events``), ``outcome``
(what a run measured, and the load while it ran), ``table`` and ``plot`` (the results).
"""
