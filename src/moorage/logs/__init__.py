"""Log machinery: the Heroku-style line format, the per-app on-disk history and the drains.

``format`` renders, parses, splits and filters :class:`~moorage.logs.format.LogLine`;
``store`` keeps one ordered, bounded history per app in rotating segment files and lets
readers tail and follow it (also from another process); ``drains`` forwards lines to
syslog (TCP/TLS) and HTTPS drains without ever blocking the writer.
"""
