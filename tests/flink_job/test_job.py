"""The CTR job in Flink's local mini-cluster on hand-made events with known answers (tests/jobs.py).

The same events must give the same results at parallelism 1 and 2 and with either delivery
guarantee; malformed events are skipped, listed in the rejected topic, and never stop the job.
"""

from __future__ import annotations

import json
from pathlib import Path
from urllib.request import urlopen

import pytest
from prometheus_client.parser import text_string_to_metric_families

from ctrbench.flink_job.job import connector_jars, submit, wait_running
from ctrbench.kafka.reading import read_all
from ctrbench.latency.results import collect_results
from ctrbench.producer.end_of_run import send_end_of_run
from ctrbench.schema import NS_PER_S
from tests.jobs import HAND_MADE_CELLS, check_hand_made, write_hand_made

pytestmark = pytest.mark.integration

S = NS_PER_S


@pytest.mark.parametrize(("parallelism", "guarantee"), [(1, "at-least-once"), (2, "at-least-once"),
                                                         (1, "exactly-once")])
def test_window_results_are_exact(kafka_settings, job_settings, pushgateway, parallelism, guarantee):
    base, _records, reasons = write_hand_made(kafka_settings)
    job = job_settings.model_copy(update={"parallelism": parallelism, "delivery_guarantee": guarantee,
                                          "flink_pushgateway": pushgateway, "base_time_ns": base})

    result = submit(kafka_settings, job, connector_jars(job))
    try:
        wait_running(result)
        send_end_of_run(kafka_settings, base, base + 15 * S, 10, job.watermark_delay_ms)
        got = collect_results(kafka_settings, HAND_MADE_CELLS, 90, base, 10)
        rejected = [json.loads(m.value()) for m in read_all(kafka_settings, kafka_settings.rejected_topic)]
        metrics = urlopen(f"http://{pushgateway}/metrics", timeout=5).read().decode()
    finally:
        result.get_job_client().cancel().result()

    check_hand_made(got, rejected, reasons, base)
    # Flink's own metrics (pushed by its Prometheus reporter): records in and out per operator.
    names = {s.name for fam in text_string_to_metric_families(metrics) for s in fam.samples}
    assert any(n.startswith("flink_taskmanager_job_task_operator_numRecordsIn") for n in names)
    assert any(n.startswith("flink_taskmanager_job_task_operator_numRecordsOut") for n in names)


def test_the_flink_lib_links_follow_this_environment(tmp_path, monkeypatch):
    """The cached lib directory once held links into a Python environment that was deleted since (another
    checkout's venv); every Flink test then failed with FileExistsError. Links into anything but this
    environment's PyFlink are pointed back at it."""
    import pyflink

    from ctrbench.flink_job.job import local_flink_lib

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    wheel = Path(pyflink.__file__).parent
    jar = sorted((wheel / "lib").glob("*.jar"))[0]
    target = tmp_path / "ctrbench" / f"flink-lib-{pyflink.version.__version__}"
    target.mkdir(parents=True)
    (target / jar.name).symlink_to(tmp_path / "gone-venv" / jar.name)  # dangling, as after the venv was removed

    assert local_flink_lib() == target
    assert (target / jar.name).readlink() == jar
    links = sorted(p.name for p in target.iterdir())
    expected = sorted(p.name for p in [*(wheel / "lib").glob("*.jar"),
                                       *(wheel / "plugins").glob("metrics-prometheus/*.jar")])
    assert links == expected and all((target / name).resolve().is_file() for name in links)
