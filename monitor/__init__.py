"""news-monitor: a scheduled news-monitoring daemon.

Layers, each importing only those below it (tests/unit/test_layers.py checks the rules and that there is no
import cycle):

- core/: pure decisions over plain data (models.py, errors.py beside it);
- store/: all SQL; fetch.py, bounded.py, netpolicy.py: HTTP; notify/: the channels' senders;
- config.py (+ config_channels.py): validated settings; service.py (+ parse_pool.py, writer.py,
  page_checks.py, poll_report.py), watching.py, outbox.py, daemon.py, fleet.py, reload.py, metrics.py: the
  running parts, wiring store, fetch, core and notify;
- web/: the read-only HTTP side over the store; runtime.py: the composition root that builds a process
  for its role; cli/: the `monitor` command, which nothing else imports.
"""

__version__ = "0.1.0"
