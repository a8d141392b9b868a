"""Floors for the connection storm (issue 15): the least a y-websocket server can do per join on
our stack, one layer at a time. Benchmark code, never shipped.

- :mod:`.rooms`: the y-websocket room both floors serve (a pycrdt ``Doc`` per room, sync step 1
  on open, step 2 in answer to a client's step 1), with pycrdt's own sync helpers;
- :mod:`.tornado_bare`: a bare Tornado application (one ``WebSocketHandler`` on ``/{room}``),
  ``python -m benchmarks.floors.tornado_bare --port P``;
- :mod:`.tornado_delegate`: Tornado's ``HTTPServer`` with our own delegate answering the upgrade
  below ``RequestHandler`` (the path issue 15 proposes, without Jupyter's checks);
- :mod:`.asyncio_raw`: no Tornado, an ``asyncio.Protocol`` parsing upgrade and frames itself;
- :mod:`.frames`: the WebSocket wire those two speak;
- :mod:`.jupyter_bare`: a Jupyter Server extension with one
  ``WebSocketMixin + WebSocketHandler + JupyterHandler`` route on ``bare/{room}``, Jupyter's
  token authentication and authorizer, run by ``jupyter server`` as ours is.

``python -m benchmarks.connectstorm --servers tornado-bare,jupyter-bare,omniforge,y-websocket``
spawns them (``benchmarks/loadgen/servers.py``).
"""
