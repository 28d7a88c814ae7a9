"""The dashboard's routes, by kind: each module has the handlers and a ROUTES list.

- pages: whole pages (/, /jobs, /dlq, /job), rendered on the server;
- fragments: each live region of a page alone (/fragments/...), fetched again by the
  page's script when events say the region changed;
- actions: every change, a POST to /actions/<name> with the CSRF token;
- api: data for scripts: log tails, log downloads, the event stream, health.
"""
