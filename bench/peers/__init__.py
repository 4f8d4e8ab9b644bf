"""One module per queue library, all with the same small interface (see queue_throughput.py):
`enqueue_single(url, n)`, `enqueue_concurrent(url, n, producers)`, `enqueue_bulk(url, n)`
(each returns how it was done; bench/peers/enqueue.py times them in a fresh process, or
`enqueue_argv(mode, n, producers)` names a command that does), `worker_argv(url)`,
`remaining(url)`. Job functions are no-ops."""
