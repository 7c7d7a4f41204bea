"""The `monitor` command line: one module per command group, each a thin layer over the library.

Owns argument parsing, one-line errors with their exit codes (monitor.errors) and the output formats
(cli/output.py). May import anything else in monitor/: the composition root (monitor.runtime), config, core,
store, service, notify, web. Nothing outside monitor/cli imports it. The `monitor` entry point is
`monitor.cli.root:main`, where every group is registered by name.
"""
