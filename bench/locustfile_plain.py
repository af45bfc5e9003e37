"""Plain locust: a FastHttpUser with no hooks, the baseline for the capture overhead figure."""

import os

from locust import FastHttpUser, constant, task

PATH = os.environ.get("BENCH_PATH", "/hello/")


class PlainUser(FastHttpUser):
    wait_time = constant(0)

    @task
    def request(self) -> None:
        self.client.get(PATH)
