"""Real servers started by the project itself on 127.0.0.1: Kafka (KRaft), PostgreSQL, jar resolution."""
