"""A locustfile that hammers one cheap endpoint, so Locust itself is the bottleneck."""

from locust import FastHttpUser, constant, task


class Hammer(FastHttpUser):
    wait_time = constant(0)

    @task
    def health(self) -> None:
        self.client.get("/health")
