"""Container images on the user's machine: what ``moor container:*`` builds, tags, pushes
and inspects with the local Docker Engine (``localdocker``), kept out of ``cli/`` so the CLI
talks only to the API client and this module."""
