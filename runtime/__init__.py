"""Castiel's runtime: what services embed. A Redis job queue and worker base, a two-layer
Redis cache, correlation ids and Prometheus metrics. Depends only on the standard library,
redis and prometheus_client."""

from runtime.backoff import Backoff
from runtime.cache import (
    AsyncCache,
    Cache,
    CacheError,
    CacheMetrics,
    CacheOptions,
    CacheUnavailableError,
    Codec,
    JsonCodec,
    WarmReport,
)
from runtime.connection import RedisConnection, RedisSettings, connect
from runtime.correlation import CorrelationFilter, correlation_scope, get_correlation_id
from runtime.errors import (
    CastielError,
    ConfigError,
    EvictionPolicyError,
    JobTimeoutError,
    PayloadError,
    UnrecoverableError,
)
from runtime.flow import AsyncFlowProducer, FlowJob, FlowNode, FlowProducer
from runtime.job import Job, JobSpec, JobState
from runtime.metrics import QueueDepthCollector, RuntimeMetrics, serve_metrics
from runtime.queue import AsyncQueue, ChildResults, Counts, Queue, QueueOptions
from runtime.worker import BaseWorker

__all__ = [
    "AsyncCache",
    "AsyncFlowProducer",
    "AsyncQueue",
    "Backoff",
    "BaseWorker",
    "Cache",
    "CacheError",
    "CacheMetrics",
    "CacheOptions",
    "CacheUnavailableError",
    "CastielError",
    "ChildResults",
    "Codec",
    "ConfigError",
    "CorrelationFilter",
    "Counts",
    "EvictionPolicyError",
    "FlowJob",
    "FlowNode",
    "FlowProducer",
    "Job",
    "JobSpec",
    "JobState",
    "JobTimeoutError",
    "JsonCodec",
    "PayloadError",
    "Queue",
    "QueueDepthCollector",
    "QueueOptions",
    "RedisConnection",
    "RedisSettings",
    "RuntimeMetrics",
    "UnrecoverableError",
    "WarmReport",
    "connect",
    "correlation_scope",
    "get_correlation_id",
    "serve_metrics",
]
