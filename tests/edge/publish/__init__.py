"""Tests of edge.publish: the outbox, MQTT payloads and the sender."""
