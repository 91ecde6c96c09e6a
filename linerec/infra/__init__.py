"""Infrastructure: settings, retries, service endpoints and clients (Postgres, S3).

``config`` is the one :class:`~linerec.infra.config.Settings` every environment variable goes
through (``LINEREC_HOME`` the root of the SQL and the shipped model); ``endpoints`` holds the
endpoint and error types shared by ``services`` (which finds or starts the embedded Postgres and
S3 servers) and the clients ``storage`` (S3 through boto3) and ``db`` (engine, migrations, named
queries from ``sql/``); ``retry`` is the one retry policy (tenacity) of the S3, Postgres and Label
Studio clients. It imports nothing else from linerec: every other part may import it.
"""
