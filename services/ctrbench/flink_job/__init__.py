"""The CTR job: PyFlink Table API, SQL only (no Python UDFs), so it runs entirely in the JVM."""
