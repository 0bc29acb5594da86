"""Why a run in the cluster is stuck: for every pod of the release that is not fine, its state, its Warning
events and the last lines of its log, read through the API server.

`cluster follow` appends this to its error when a run fails or times out, so the message that ends a failed
run (in a terminal or a CI log) already says which pod failed and what it printed.
"""

from __future__ import annotations

from typing import Any

from ctrbench.cluster.release import COMPONENT, Release

__all__ = ["diagnose", "pod_problems"]


def _fine(status: Any, init: bool) -> bool:
    """A container that finished well (an init container done), or a main one ready and never restarted."""
    state = status.state
    if state and state.terminated and state.terminated.exit_code == 0:
        return True
    return not init and bool(status.ready) and not status.restart_count


def _container_line(status: Any, init: bool) -> str | None:
    """One line for a container that is not fine (None for one that is)."""
    state, last = status.state, status.last_state
    if _fine(status, init):
        return None
    parts = []
    if state and state.waiting:
        parts.append(f"waiting: {state.waiting.reason}" + (f" ({_first_line(state.waiting.message)})"
                                                             if state.waiting.message else ""))
    elif state and state.terminated:
        parts.append(f"exited {state.terminated.exit_code} ({state.terminated.reason})")
    elif state and state.running:
        parts.append("running, not finished" if init else "running" if status.ready else "running, not ready")
    if status.restart_count:
        parts.append(f"{status.restart_count} restart{'s' if status.restart_count > 1 else ''}")
    if last and last.terminated:
        parts.append(f"last exit code {last.terminated.exit_code} ({last.terminated.reason})")
    return f"{'init container' if init else 'container'} {status.name}: {', '.join(parts) or 'no state yet'}"


def _statuses(pod: Any) -> list[tuple[Any, bool]]:
    """The pod's container statuses, each with whether it is an init container's."""
    return [(s, True) for s in pod.status.init_container_statuses or []] + \
           [(s, False) for s in pod.status.container_statuses or []]


def _first_line(text: str, limit: int = 200) -> str:
    return text.strip().splitlines()[0][:limit] if text and text.strip() else ""


def pod_problems(pod: Any) -> list[str]:
    """What is wrong with one pod ([] when it is fine: Succeeded, or Running with every container ready and
    never restarted: a broker that restarted mid-run is a lead, although it is Ready again)."""
    status = pod.status
    phase = status.phase or "Unknown"
    containers = _statuses(pod)
    if phase == "Succeeded" or (phase == "Running" and containers
                                and all(s.ready and not s.restart_count for s, init in containers if not init)):
        return []
    lines = [f"phase {phase}"]
    for cond in status.conditions or []:
        if cond.status == "False" and (cond.reason or cond.message) and cond.type in ("PodScheduled", "Initialized"):
            lines.append(f"{cond.type}: {cond.reason or ''} {_first_line(cond.message or '')}".rstrip())
    lines += [line for s, init in containers if (line := _container_line(s, init))]
    return lines


def _warning_events(release: Release, pod: str, limit: int) -> list[str]:
    try:
        events = release.core.list_namespaced_event(
            release.namespace, field_selector=f"involvedObject.kind=Pod,involvedObject.name={pod}").items
    except Exception as exc:  # noqa: BLE001 - a diagnosis must not fail on what it cannot read
        return [f"(events unavailable: {exc})"]
    warnings = [e for e in events if e.type == "Warning"]
    warnings.sort(key=lambda e: e.last_timestamp or e.event_time or e.metadata.creation_timestamp)
    return [f"event {e.reason} (x{e.count or 1}): {_first_line(e.message or '')}" for e in warnings[-limit:]]


def _log_tail(release: Release, pod: Any, lines: int) -> list[str]:
    """The last lines of the first container that is not fine: a restarted one's previous run, else its own."""
    for status, init in _statuses(pod):
        if _fine(status, init):
            continue
        previous = bool(status.restart_count) and not (status.state and status.state.terminated)
        try:
            text = release.core.read_namespaced_pod_log(pod.metadata.name, release.namespace,
                                                        container=status.name, tail_lines=lines, previous=previous)
        except Exception:  # noqa: BLE001 - not started yet: no log to show
            continue
        if text and text.strip():
            which = "previous run" if previous else "log"
            return [f"{status.name} {which}, last {lines} lines:"] + ["  " + t for t in text.rstrip().splitlines()]
    return []


def diagnose(release: Release, log_lines: int = 12, events: int = 4, skip: tuple[str, ...] = ()) -> str:
    """A report on every pod of the release that is not fine ("" when all are), but those of the components
    in ``skip`` (whose state the caller shows already)."""
    blocks = []
    try:
        pods = release.pods()
    except Exception as exc:  # noqa: BLE001
        return f"(pods unavailable: {exc})"
    for pod in sorted(pods, key=lambda p: p.metadata.name):
        if (pod.metadata.labels or {}).get(COMPONENT) in skip:
            continue
        problems = pod_problems(pod)
        if not problems:
            continue
        name = pod.metadata.name
        body = problems + _warning_events(release, name, events) + _log_tail(release, pod, log_lines)
        blocks.append(f"pod {name}:\n" + "\n".join("  " + line for line in body))
    return "\n".join(blocks)
