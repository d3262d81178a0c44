"""Support files of the widget benchmark (`bench/widget_bench.py`): settings, URLs and the locust file."""
