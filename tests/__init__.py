"""The test suite, laid out like the package (see CONTRIBUTING.md); helpers in ``tests.support``."""
