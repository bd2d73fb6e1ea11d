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


def _run(directory, heal_seq: int, off_fails_at: int | None = None):
    """Arms 'on' and 'off' lose canaries 4..9 (written every 5 s); 'on' reconnects and
    delivers again from canary 10, before the heal; 'off' never delivers again (its task
    FAILED from canary off_fails_at on, if given)."""
    directory.mkdir()
    lines = []
    for seq in range(20):
        on_lost, off_lost = 4 <= seq <= 9, seq >= 4
        lines.append(
            _check(seq, "on", "missing" if on_lost else "delivered", 300, disconnects=int(seq > 9))
        )
        off = _check(seq, "off", "missing" if off_lost else "delivered", 300)
        if off_fails_at is not None and seq >= off_fails_at:
            off["task_state"] = "FAILED"
        lines.append(off)
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


def test_a_silent_failure_that_turns_loud_ends_when_rest_leaves_running(tmp_path):
    """A bounded producer fails the task mid-fault: silent until REST says FAILED (canary
    8, 20 s after canary 4), loud after, even if a stray record surfaces after the heal."""
    run = _run(tmp_path / "demo-run", heal_seq=15, off_fails_at=8)
    write_catalog(tmp_path, [run], {})
    cells = {c["arm"]: c for c in json.loads((tmp_path / "catalog.json").read_text())}
    off = cells["off"]
    assert off["silent"] and off["rest_left_running"]
    assert off["recovered"] == "20 s after it began (REST no longer RUNNING)"
    assert off["cure"] == "it turned loud: REST stopped saying RUNNING"
    assert cells["on"]["cure"] == "its binlog client reconnected (keep-alive)"


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


def test_a_failure_with_no_fault_that_turns_loud_ends_when_rest_leaves_running(tmp_path):
    """keyupdate's kind on a release that gives up: no fault to time from, the task FAILED
    from canary 12 on (40 s after canary 4, the first lost one)."""
    run = _run(tmp_path / "demo-run", heal_seq=15, off_fails_at=12)
    (run / "faults.jsonl").unlink()
    build_report(run)
    write_catalog(tmp_path, [run], {})
    off = next(c for c in json.loads((tmp_path / "catalog.json").read_text()) if c["arm"] == "off")
    assert off["recovered"] == "40 s after it began (REST no longer RUNNING)"
    assert off["cure"] == "it turned loud: REST stopped saying RUNNING"


def test_invoke_report_rebuilds_a_catalog_from_its_runs_journals(tmp_path, invoke_cli):
    """Results taken by an older cdclab are read with this one's rules: the run's report
    and the matrix are written again from the journals; `latest` is no second run."""
    run = _run(tmp_path / "keyupdate-20261128T120401Z-8fc7b481", heal_seq=15, off_fails_at=12)
    (run / "faults.jsonl").unlink()
    spec = run / "spec.yaml"
    spec.write_text(spec.read_text().replace("name: demo", "name: keyupdate"))
    (run / "summary.json").unlink()  # as if the run's report were lost
    (tmp_path / "catalog.json").write_text("[]\n")
    (tmp_path / "latest").symlink_to(run.name)
    ran = invoke_cli("report", str(tmp_path))
    assert ran.rc == 0, ran.stderr
    assert (run / "summary.json").is_file() and (run / "report.md").is_file()
    cells = json.loads((tmp_path / "catalog.json").read_text())
    assert [c["arm"] for c in cells] == ["on", "off"]
    assert cells[1]["recovered"] == "40 s after it began (REST no longer RUNNING)"
    text = (tmp_path / "catalog.md").read_text()
    assert "[keyupdate](keyupdate-20261128T120401Z-8fc7b481/report.md)" in text
    # what each failure teaches: only the failures the catalog holds
    assert "- **keyupdate**: " in text and "- **nat-idle**" not in text


def test_invoke_report_on_a_catalog_without_runs_says_what_to_give(tmp_path, invoke_cli):
    (tmp_path / "catalog.json").write_text("[]\n")
    ran = invoke_cli("report", str(tmp_path))
    assert ran.rc != 0 and "holds no run of the catalog" in ran.stderr


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
def test_the_lab_runs_every_debezium_line_from_2_7_and_3_1_on_connect_4(major, minor, patch):
    """The MariaDB connector begins at 2.7; from 3.1 on a release runs on Kafka Connect 4."""
    from cdclab.core.spec import lab_debezium_problem, needs_connect4
    from cdclab.lab.extravars import connect_release
    from cdclab.versions import load_versions

    release, pinned = f"{major}.{minor}.{patch}.Final", load_versions()
    problem = lab_debezium_problem(release)
    assert (problem is None) == ((major, minor) >= (2, 7))
    if problem:
        assert "begins at 2.7.0.Final" in problem
    assert needs_connect4(release) == ((major, minor) >= (3, 1))
    connect = connect_release(release, pinned)
    assert connect == (pinned.connect4 if (major, minor) >= (3, 1) else pinned.kafka)


def test_a_release_without_a_mariadb_connector_is_refused_by_arm_before_anything_runs():
    from cdclab.core.spec import load_spec

    with pytest.raises(InvalidInputError, match=r"arms\.tls12\.debezium: 2\.6\.2\.Final.*2\.7"):
        load_spec("tls-compare", assignments=["arms.tls12.debezium=2.6.2.Final"])
    with pytest.raises(InvalidInputError, match=r"keepalive_dbz26\.debezium: 2\.6\.0\.Final"):
        catalog_specs(["nat-idle"], ["2.7.0.Final", "2.6.0.Final"])


def test_the_pinned_comparison_releases_are_ones_the_lab_runs_on_both_connect_lines():
    from cdclab.core.spec import lab_debezium_problem, needs_connect4
    from cdclab.versions import load_versions

    pinned = load_versions()
    for release in (pinned.debezium_compare, pinned.debezium_latest):
        assert lab_debezium_problem(release) is None
    assert pinned.debezium_compare.split(".")[:2] != pinned.debezium.split(".")[:2]
    assert not needs_connect4(pinned.debezium) and not needs_connect4(pinned.debezium_compare)
    assert needs_connect4(pinned.debezium_latest) and pinned.connect4.startswith("4.")


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


def test_an_arm_on_debezium_3_1_or_later_gets_a_connect_4_worker_and_the_others_keep_3_7():
    from cdclab.core.spec import load_spec
    from cdclab.lab.extravars import lab_extravars
    from cdclab.targets.local import lab_config_for
    from cdclab.versions import load_versions

    pinned = load_versions()
    spec = load_spec("tls-compare", assignments=[f"arms.tls12.debezium={pinned.debezium_latest}"])
    lab = lab_extravars(lab_config_for(spec))["cdclab_lab"]
    arms = {a["name"]: (a["debezium"], a["connect"]) for a in lab["arms"]}
    assert arms == {
        "tls13": (pinned.debezium, pinned.kafka),
        "tls12": (pinned.debezium_latest, pinned.connect4),
    }
    assert lab["connect_versions"] == [pinned.connect4]
    assert lab["debezium_versions"] == sorted([pinned.debezium, pinned.debezium_latest])
    plain = lab_extravars(lab_config_for(load_spec("tls-compare")))["cdclab_lab"]
    assert plain["connect_versions"] == []
