"""The ASGI service: routes, inbound auth, cursors, error bodies, settings, logging, CLI."""
