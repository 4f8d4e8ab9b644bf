"""Traffic for the example service (examples/service.py): catalogue and permission reads
(cache-backed), order creation (database writes + a job flow) and order reads. Weights follow
a read-heavy API: about 70 % cached reads, 20 % order reads, 10 % writes."""

from __future__ import annotations

import random

from locust import FastHttpUser, between, task


class ServiceUser(FastHttpUser):
    wait_time = between(0.05, 0.2)

    def on_start(self) -> None:
        self.user_id = random.randint(0, 999)
        self.orders: list[int] = []

    @task(5)
    def shard_type(self) -> None:
        # A hot catalogue: a few shard types are read far more often than the rest.
        self.client.get(
            f"/shards/type-{int(random.paretovariate(1.5)) % 50}", name="/shards/{shard_type}"
        )

    @task(2)
    def permissions(self) -> None:
        self.client.get(f"/users/{self.user_id}/permissions", name="/users/{user_id}/permissions")

    @task(1)
    def create_order(self) -> None:
        items = [
            {"sku": f"sku-{random.randint(1, 200)}", "qty": random.randint(1, 3)}
            for _ in range(random.randint(1, 4))
        ]
        with self.client.post(
            "/orders",
            json={"user": self.user_id, "items": items},
            name="/orders",
            catch_response=True,
        ) as resp:
            if resp.status_code == 201 and resp.json():
                self.orders.append(int(resp.json()["order"]))
                resp.success()

    @task(2)
    def read_order(self) -> None:
        if self.orders:
            self.client.get(
                f"/orders/{random.choice(self.orders[-20:])}", name="/orders/{order_id}"
            )
