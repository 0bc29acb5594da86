"""Kafka helpers shared by every service: topic administration and client configuration."""
