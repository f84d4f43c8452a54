"""Integration tests: real engines and registries, started by the fixtures (a package, so a test file may
share a name with one in unit/)."""
