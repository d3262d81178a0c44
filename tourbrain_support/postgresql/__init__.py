"""Django's PostgreSQL backend with a health check that sends nothing while the connection is quiet (`base.py`)."""
