"""The catalog's matrix, from run directories as the report leaves them, and its input."""

from __future__ import annotations

import itertools
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cdclab.catalog.entries import CATALOG, chosen
from cdclab.catalog.matrix import write_catalog
from cdclab.catalog.run import catalog_specs
from cdclab.core.journal import utc_iso
from cdclab.errors import InvalidInputError
from cdclab.report.render import build_report
from tests.unit.test_metrics import _check
from tests.unit.test_summary import T0, _write


def _run(directory, heal_seq: int):
    """Arms 'on' and 'off' lose canaries 4..9 (written every 5 s); 'on' reconnects and
    delivers again from canary 10, before the heal; 'off' never delivers again."""
    directory.mkdir()
    lines = []
    for seq in range(20):
        on_lost, off_lost = 4 <= seq <= 9, seq >= 4
        lines.append(
            _check(seq, "on", "missing" if on_lost else "delivered", 300, disconnects=int(seq > 9))
        )
        lines.append(_check(seq, "off", "missing" if off_lost else "delivered", 300))
    _write(directory / "checks.jsonl", lines)
    faults = [
        {"event": "fault-applied", "fault_id": "f01", "label": "x", "at": utc_iso(T0 + 19)},
        {
            "event": "fault-healed",
            "fault_id": "f01",
            "healed_by": "schedule",
            "at": utc_iso(T0 + heal_seq * 5),
        },
    ]
    _write(directory / "faults.jsonl", faults)
    (directory / "spec.yaml").write_text(
        "name: demo\ndescription: a demo failure\ncanary: {interval: 5s, deadline: 8s}\n"
        "arms:\n  on: {description: keep-alive on}\n  off: {description: keep-alive off}\n"
    )
    build_report(directory)
    return directory


def test_the_matrix_says_what_noticed_and_what_ended_each_failure(tmp_path):
    run = _run(tmp_path / "demo-run", heal_seq=15)
    matrix = write_catalog(tmp_path, [run], {"demo": "what it teaches"})
    cells = {c["arm"]: c for c in json.loads((tmp_path / "catalog.json").read_text())}
    on, off = cells["on"], cells["off"]
    assert on["silent"] and off["silent"]
    assert on["cure"] == "its binlog client reconnected (keep-alive)"
    assert on["recovered"] == "30 s after it began"  # canary 4 at T0+20 to canary 10's arrival
    assert (off["recovered"], off["cure"]) == ("not by the end of the run", "nothing in the run")
    assert on["arm_config"] == "keep-alive on" and on["run"] == "demo-run"
    assert not on["rest_left_running"] and not on["connected_dropped"]
    text = matrix.read_text()
    assert "[demo](demo-run/report.md)" in text and "- **demo**: what it teaches" in text


def test_a_reconnect_after_the_heal_is_not_credited_to_the_keep_alive_alone(tmp_path):
    run = _run(tmp_path / "demo-run", heal_seq=8)  # 'on' reconnects after the heal
    write_catalog(tmp_path, [run], {})
    cells = {c["arm"]: c for c in json.loads((tmp_path / "catalog.json").read_text())}
    on = cells["on"]
    assert on["cure"] == "its binlog client reconnected once the fault had ended"
    assert on["recovered"] == "30 s after it began (10 s after the heal)"


def test_a_failure_with_no_fault_is_timed_from_its_first_lost_canary(tmp_path):
    run = _run(tmp_path / "demo-run", heal_seq=15)
    (run / "faults.jsonl").unlink()  # a failure that arises by itself (keyupdate's kind)
    build_report(run)
    write_catalog(tmp_path, [run], {})
    cells = {c["arm"]: c for c in json.loads((tmp_path / "catalog.json").read_text())}
    summary = json.loads((run / "summary.json").read_text())
    (episode,) = next(a for a in summary["arms"] if a["arm"] == "off")["episodes"]
    off = cells["off"]
    assert off["detect_from"] == "the first lost canary"
    assert off["detect_s"] == pytest.approx(episode["detected_at"] - episode["start"], abs=1e-3)
    assert off["detect_s"] > 0
    row = next(
        line for line in (tmp_path / "catalog.md").read_text().splitlines() if "| off |" in line
    )
    assert f"{off['detect_s']:.1f} s†" in row


def test_a_failure_with_a_fault_is_timed_from_the_fault(tmp_path):
    run = _run(tmp_path / "demo-run", heal_seq=15)
    write_catalog(tmp_path, [run], {})
    cells = {c["arm"]: c for c in json.loads((tmp_path / "catalog.json").read_text())}
    impact = json.loads((run / "summary.json").read_text())["fault_impacts"][0]
    expected = {a["arm"]: a["episode_detected_s"] for a in impact["arms"]}
    assert cells["off"]["detect_s"] == expected["off"] is not None
    assert cells["off"]["detect_from"] == "the fault"
    assert (
        "†" not in (tmp_path / "catalog.md").read_text().split("## What each")[0].split("|---")[1]
    )


def test_only_names_the_unknown_experiment_and_the_choices():
    with pytest.raises(InvalidInputError, match="--only: nope not in the catalog; choose from"):
        chosen(["nope"])
    assert [e.experiment for e in chosen(["half-open"])] == ["half-open"]


def test_every_catalog_experiment_validates_and_all_fit_in_30_minutes():
    specs = catalog_specs(None)
    assert [e.experiment for e, _ in specs] == [e.experiment for e in CATALOG]
    shapes = [tuple(spec.resolved_arms()) for _, spec in specs]
    changes = sum(1 for a, b in itertools.pairwise(shapes) if a != b) + 1
    assert sum(e.minutes for e in CATALOG) + changes * 1.0 <= 30  # a minute a lab change


def test_bad_only_creates_nothing(tmp_path, invoke_cli):
    ran = invoke_cli("catalog", "--only", "nope", env={"CDCLAB_RESULTS_DIR": str(tmp_path)})
    assert ran.rc == 2 and "--only" in ran.stderr
    assert not list(tmp_path.iterdir())


# -- Debezium's version as an arm dimension ---------------------------------------------------
def test_each_arm_may_run_its_own_debezium_and_gets_its_own_plugin_path():
    from cdclab.core.spec import load_spec
    from cdclab.lab.config import LabConfig
    from cdclab.lab.extravars import lab_extravars
    from cdclab.targets.base import spec_arms
    from cdclab.versions import load_versions

    spec = load_spec(
        "tls-compare",
        assignments=[
            "arms={}",
            "matrix={debezium: {dbz27: {debezium: 2.7.0.Final}, dbz30: {debezium: 3.0.1.Final}},"
            " ka: {on: {}, off: {connector: {connect.keep.alive: false}}}}",
        ],
    )
    arms = spec.resolved_arms()
    assert {n: a.debezium for n, a in arms.items()} == {
        "dbz27_on": "2.7.0.Final",
        "dbz27_off": "2.7.0.Final",
        "dbz30_on": "3.0.1.Final",
        "dbz30_off": "3.0.1.Final",
    }
    lab = lab_extravars(LabConfig(arms=spec_arms(spec)))["cdclab_lab"]
    assert lab["debezium_versions"] == ["2.7.0.Final", "3.0.1.Final"]
    assert {a["name"]: a["debezium"] for a in lab["arms"]}["dbz30_off"] == "3.0.1.Final"
    plain = lab_extravars(LabConfig())["cdclab_lab"]
    assert plain["debezium_versions"] == [load_versions().debezium]


def test_a_debezium_version_is_a_release_and_runs_on_the_lab_only():
    from cdclab.core.spec import load_spec

    with pytest.raises(InvalidInputError, match="debezium"):
        load_spec("tls-compare", assignments=["arms.tls13.debezium=latest"])
    with pytest.raises(InvalidInputError, match="runs on the local lab"):
        load_spec(
            "tls-compare",
            assignments=["arms.tls13.debezium=3.0.1.Final", "target=docker"],
        )


def test_the_catalog_runs_every_arm_once_per_debezium_release():
    specs = dict(
        (e.experiment, s) for e, s in catalog_specs(["nat-idle"], ["2.7.0.Final", "3.0.1.Final"])
    )
    arms = specs["nat-idle"].resolved_arms()
    assert {n: a.debezium for n, a in arms.items()} == {
        "keepalive_dbz27": "2.7.0.Final",
        "keepalive_dbz30": "3.0.1.Final",
        "no_keepalive_dbz27": "2.7.0.Final",
        "no_keepalive_dbz30": "3.0.1.Final",
    }
    assert arms["no_keepalive_dbz30"].connector == {"connect.keep.alive": False}
    # The matrix's arm configuration says which release the row ran.
    assert arms["keepalive_dbz30"].description.endswith(
        "(Debezium's defaults); Debezium 3.0.1.Final"
    )
    assert specs["nat-idle"].quiet_windows() == [(45.0, 90.0)]  # the faults came along


def test_two_releases_of_one_line_get_arms_of_their_own():
    ((_entry, spec),) = catalog_specs(["half-open"], ["3.0.0.Final", "3.0.1.Final"])
    assert {n: a.debezium for n, a in spec.resolved_arms().items()} == {
        "keepalive_dbz300": "3.0.0.Final",
        "keepalive_dbz301": "3.0.1.Final",
        "no_keepalive_dbz300": "3.0.0.Final",
        "no_keepalive_dbz301": "3.0.1.Final",
    }
    with pytest.raises(InvalidInputError, match="names a release twice"):
        catalog_specs(["half-open"], ["3.0.1.Final", "3.0.1.Final"])


def test_a_release_that_is_no_release_is_refused_by_name():
    with pytest.raises(InvalidInputError, match="--debezium: 'latest' is not a Debezium release"):
        catalog_specs(["nat-idle"], ["latest"])


def test_more_arms_than_a_lab_holds_are_refused():
    with pytest.raises(InvalidInputError, match="at most 8 fit one lab"):
        catalog_specs(["keyupdate"], ["2.7.0.Final", "3.0.0.Final", "3.0.1.Final"])


@given(
    major=st.integers(min_value=0, max_value=9),
    minor=st.integers(min_value=0, max_value=12),
    patch=st.integers(min_value=0, max_value=9),
)
def test_the_lab_runs_exactly_the_debezium_lines_from_2_7_to_3_0(major, minor, patch):
    """The MariaDB connector begins at 2.7; from 3.1 on it needs Kafka Connect 4."""
    from cdclab.core.spec import lab_debezium_problem

    problem = lab_debezium_problem(f"{major}.{minor}.{patch}.Final")
    assert (problem is None) == ((2, 7) <= (major, minor) <= (3, 0))
    if (major, minor) > (3, 0):
        assert "Kafka Connect 4" in problem and "3.0.1.Final" in problem
    elif problem:
        assert "begins at 2.7.0.Final" in problem


def test_a_release_the_lab_cannot_load_is_refused_by_arm_before_anything_runs():
    from cdclab.core.spec import load_spec

    with pytest.raises(
        InvalidInputError, match=r"arms\.tls12\.debezium: 3\.5\.0\.Final.*Connect 4"
    ):
        load_spec("tls-compare", assignments=["arms.tls12.debezium=3.5.0.Final"])
    with pytest.raises(InvalidInputError, match=r"keepalive_dbz31\.debezium: 3\.1\.0\.Final"):
        catalog_specs(["nat-idle"], ["2.7.0.Final", "3.1.0.Final"])


def test_the_pinned_comparison_release_is_one_the_lab_runs():
    from cdclab.core.spec import lab_debezium_problem
    from cdclab.versions import load_versions

    pinned = load_versions()
    assert lab_debezium_problem(pinned.debezium_compare) is None
    assert pinned.debezium_compare.split(".")[:2] != pinned.debezium.split(".")[:2]


def test_quick_sizes_validate_and_are_shorter_with_the_same_failure():
    full = dict((e.experiment, s) for e, s in catalog_specs(None))
    quick = dict((e.experiment, s) for e, s in catalog_specs(None, quick=True))
    assert quick.keys() == full.keys()
    for name, spec in quick.items():
        assert spec.duration <= full[name].duration, name
        assert [f.kind for f in spec.all_faults()][:1] == [f.kind for f in full[name].all_faults()][
            :1
        ]
        assert tuple(spec.resolved_arms()) == tuple(full[name].resolved_arms()), name
    assert sum(s.duration for s in quick.values()) < sum(s.duration for s in full.values())
