"""The example service built on the runtime: target of the demo and the tests."""
