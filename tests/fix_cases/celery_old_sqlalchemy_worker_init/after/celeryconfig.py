"""Celery settings: a broker and a result store on the local file system (no servers)."""

import os

_spool = os.environ.get("CELERY_SPOOL", "/var/spool/orders")

broker_url = "filesystem://"
broker_transport_options = {
    "data_folder_in": f"{_spool}/queue",
    "data_folder_out": f"{_spool}/queue",
    "control_folder": f"{_spool}/control",
    "polling_interval": 0.05,
}
result_backend = f"file://{_spool}/results"

worker_pool = "prefork"
worker_concurrency = 4
task_time_limit = 5
