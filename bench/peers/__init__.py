"""One module per queue library, all with the same small interface (see queue_throughput.py):
`enqueue_single(url, n)`, `enqueue_bulk(url, n)` (returns how it was done), `worker_argv(url)`,
`remaining(url)`. Job functions are no-ops."""
