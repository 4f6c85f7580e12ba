"""Platform emulators: Starlette apps that behave like the real platform APIs."""
