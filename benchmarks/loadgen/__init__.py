"""An asyncio load generator speaking the y-websocket protocol.

- ``wsclient``: a minimal WebSocket client (handshake, masked client frames, unmasked server frames).
- ``yprotocol``: the few y-websocket frames light clients need, and update markers.
- ``subscriber``: light subscribers that time deliveries from raw bytes, without Yjs decoding.
- ``fullclient``: pycrdt clients — the writer and the convergence checkers.
- ``worker`` / ``pool``: light subscribers spread over worker processes, driven by the main one.
- ``servers``: the server under test (URL template, pid, ``--spawn-omniforge``).
- ``cpu``, ``stats``, ``report``, ``eventloop``: CPU meters, percentiles, result files, uvloop/asyncio.
"""
