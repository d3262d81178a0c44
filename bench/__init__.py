"""Benchmarks: `make bench` runs every `bench/*_bench.py` module against PostgreSQL and prints figures."""
