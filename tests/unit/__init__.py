"""Unit tests: pure logic, no engine, no registry (a package, so a test file may share a name with one in
integration/)."""
