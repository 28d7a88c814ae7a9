"""The optional web dashboard: a client of the daemon like the CLI.

It talks to the daemon only over the control socket (RpcClient) and the event
stream (EventStream), never to the database. Install with
`pip install 'queuectl[dashboard]'`; run with `queuectl dashboard`.

Modules: daemon_link (RPC calls from async handlers), live (events -> browsers),
security (token, CSRF, headers), views (formatting, chart, log tails),
app (routes), server (uvicorn).
"""

# The token for a service (see docs/dashboard.md); here so the CLI needs no extra to name it.
TOKEN_ENV = "QUEUECTL_DASHBOARD_TOKEN"
INSTALL_HINT = "the dashboard needs its extra: pip install 'queuectl[dashboard]'"
