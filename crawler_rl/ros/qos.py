"""Topic names and QoS of the training graph, each chosen on purpose.

Types are crawler_rl_interfaces messages (`ros2 interface show crawler_rl_interfaces/msg/...`).

- `actor_obs` (ObservationBatch): reliable, volatile, keep last 64. Every step is training
  data; a lost step would stall its actor until the resend timeout. Depth covers one message
  per actor in flight.
- `actor_actions` (ActionBatch): reliable, volatile, keep last 64. The actor blocks on its
  reply; all actors share the topic and keep only replies with their actor id.
- `rollouts` (Rollout): reliable, volatile, keep last 32. Large, rare, never droppable; the
  depth bounds the memory held for a slow learner.
- `policy_weights` (PolicyWeights): reliable, transient local, keep last 1. Latched: a late
  or restarted inference node gets the latest weights at once.
- `training_metrics` (TrainingMetrics): reliable, transient local, keep last 1. Latched
  progress for the launcher's progress bar.

Sensor-style best-effort QoS is deliberately NOT used: training data must not be lost silently.
"""

from __future__ import annotations

from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy

OBS_TOPIC = "actor_obs"
ACTION_TOPIC = "actor_actions"
ROLLOUT_TOPIC = "rollouts"
WEIGHTS_TOPIC = "policy_weights"
METRICS_TOPIC = "training_metrics"


def _reliable(depth: int) -> QoSProfile:
    return QoSProfile(
        history=HistoryPolicy.KEEP_LAST,
        depth=depth,
        reliability=ReliabilityPolicy.RELIABLE,
        durability=DurabilityPolicy.VOLATILE,
    )


def latched_qos() -> QoSProfile:
    """Keep-last-1, reliable, transient local: late joiners get the newest message."""
    return QoSProfile(
        history=HistoryPolicy.KEEP_LAST,
        depth=1,
        reliability=ReliabilityPolicy.RELIABLE,
        durability=DurabilityPolicy.TRANSIENT_LOCAL,
    )


def obs_qos() -> QoSProfile:
    """QoS of actor observation batches."""
    return _reliable(64)


def action_qos() -> QoSProfile:
    """QoS of action batches sent back to actors."""
    return _reliable(64)


def rollout_qos() -> QoSProfile:
    """QoS of full rollouts shipped to the learner."""
    return _reliable(32)


def weights_qos() -> QoSProfile:
    """QoS of versioned policy weights (latched for late joiners)."""
    return latched_qos()


def metrics_qos() -> QoSProfile:
    """QoS of the learner's JSON training metrics (latched)."""
    return latched_qos()


TOPIC_QOS = {
    OBS_TOPIC: obs_qos,
    ACTION_TOPIC: action_qos,
    ROLLOUT_TOPIC: rollout_qos,
    WEIGHTS_TOPIC: weights_qos,
    METRICS_TOPIC: metrics_qos,
}
"""Topic name -> QoS factory; publishers and subscribers both use it so they always match."""
