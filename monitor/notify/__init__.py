"""Alert delivery to the outside: one sender per channel kind, and the dispatcher that picks one.

- contract.py: what a sender is (settings and a rendered message in; DeliveryResult or DeliveryError out).
- email.py, webhook.py, apprise_channel.py: the senders; each imports the contract, never the dispatcher.
- dispatch.py: `send()`, the only module that imports the senders.

May import: monitor.core (rendered messages), monitor.config_channels (the settings senders consume),
monitor.errors, and the HTTP/SMTP/Apprise clients. Never the store, the config loader or the CLI.
"""
