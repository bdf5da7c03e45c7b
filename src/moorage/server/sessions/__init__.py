"""Dyno sessions: what users and the platform open on running dynos, as opposed to what the
reconciler converges.

- :mod:`.dynos`: :class:`~moorage.server.sessions.dynos.DynoSessions`, the component the API,
  the scheduler, the log pump and the metrics sampler call: one-off dynos (start, attach,
  finish), exec, file reads, dyno output and stats samples. With the reconciler it is the only
  caller of the runtime and the router.
- :mod:`.wsbridge`: ``moor ps:exec`` and ``moor run`` over a WebSocket.
- :mod:`.rendezvous`: ``heroku run``'s TLS attach.
- :mod:`.sshgate`: ``heroku ps:exec``'s SSH server (asyncssh loads only when it is on).
"""
