"""Registry access without the engine: credentials as docker keeps them, and the Registry HTTP API V2.

Imported only by tasks that talk to registries directly (login, logout), so
``inv --list`` stays cheap.
"""
