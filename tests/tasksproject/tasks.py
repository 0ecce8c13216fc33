"""The project's tasks: plain Django Tasks API, nothing walnats-specific."""

from django_tasks import task


@task
def greet(name: str) -> str:
    return f"Hello, {name}!"


@task
async def total(prices: list[float]) -> float:
    return sum(prices)
