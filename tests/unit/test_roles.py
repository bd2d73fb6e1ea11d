"""House rules for the Ansible side, checked on every role and playbook."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from cdclab.paths import INVENTORIES_DIR, PLAYBOOKS_DIR, PROJECT_ROOT, ROLES_DIR

ROLES = sorted(p.name for p in ROLES_DIR.iterdir() if p.is_dir())
# Keys of a task that are not its module.
TASK_KEYWORDS = {
    "name",
    "when",
    "loop",
    "loop_control",
    "register",
    "changed_when",
    "failed_when",
    "until",
    "retries",
    "delay",
    "vars",
    "no_log",
    "check_mode",
    "tags",
    "become",
    "ignore_errors",
    "notify",
    "delegate_to",
    "run_once",
    "environment",
    "block",
    "rescue",
    "always",
    "args",
    "listen",
}


def _tasks(path: Path):
    for task in yaml.safe_load(path.read_text()) or []:
        yield task
        for section in ("block", "rescue", "always"):
            yield from task.get(section, [])


@pytest.mark.parametrize("role", ROLES)
def test_role_has_argument_specs_matching_its_defaults(role):
    specs_file = ROLES_DIR / role / "meta" / "argument_specs.yml"
    assert specs_file.exists(), f"{role}: add meta/argument_specs.yml"
    # Every entry point's options (a role may have several: tasks_from).
    entry_points = yaml.safe_load(specs_file.read_text())["argument_specs"]
    assert "main" in entry_points, f"{role}: argument_specs has no main entry point"
    options = {name for entry in entry_points.values() for name in entry.get("options", {})}
    defaults = yaml.safe_load((ROLES_DIR / role / "defaults" / "main.yml").read_text()) or {}
    undocumented = set(defaults) - set(options)
    assert not undocumented, f"{role}: defaults missing from argument_specs: {undocumented}"


@pytest.mark.parametrize("role", ROLES)
def test_role_variables_are_prefixed_with_the_role_name(role):
    defaults = yaml.safe_load((ROLES_DIR / role / "defaults" / "main.yml").read_text()) or {}
    bad = [name for name in defaults if not name.startswith(f"{role}_")]
    assert not bad, f"{role}: rename {bad} to start with {role}_"


@pytest.mark.parametrize("role", ROLES)
def test_role_tasks_use_fqcn_modules_and_have_names(role):
    for path in (ROLES_DIR / role / "tasks").glob("*.yml"):
        for task in _tasks(path):
            assert task.get("name"), f"{path}: every task is named as a sentence"
            modules = [k for k in task if k not in TASK_KEYWORDS]
            assert all(m.startswith("ansible.") for m in modules), f"{path}: {modules} not FQCN"


def test_playbooks_pass_ansible_syntax_check():
    env = {
        **os.environ,
        "ANSIBLE_CONFIG": str(PROJECT_ROOT / "ansible.cfg"),
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
    }
    for playbook in sorted(PLAYBOOKS_DIR.glob("*.yml")):
        done = subprocess.run(
            [
                "ansible-playbook",
                "--syntax-check",
                "-i",
                str(INVENTORIES_DIR / "local"),
                str(playbook),
            ],
            capture_output=True,
            text=True,
            env=env,
            cwd=PROJECT_ROOT,
            check=False,
        )
        assert done.returncode == 0, f"{playbook.name}:\n{done.stdout}\n{done.stderr}"


def test_every_yaml_file_parses():
    for directory in (ROLES_DIR, PLAYBOOKS_DIR, INVENTORIES_DIR):
        for path in directory.rglob("*.yml"):
            yaml.safe_load(path.read_text())


def test_local_inventory_overrides_every_state_path_default():
    # Otherwise a role would write outside CDCLAB_STATE_DIR (a lab in another state dir
    # would then read another lab's files).
    group_vars = yaml.safe_load((INVENTORIES_DIR / "local" / "group_vars" / "all.yml").read_text())
    for role in ROLES:
        defaults = yaml.safe_load((ROLES_DIR / role / "defaults" / "main.yml").read_text()) or {}
        for name, value in defaults.items():
            if isinstance(value, str) and "/var/lib/cdclab" in value:
                assert name in group_vars, f"inventories/local/group_vars/all.yml must set {name}"


OPTION_KEYS = {"type", "required", "description", "default", "elements", "choices", "options"}


def _options(tree: dict) -> list[tuple[str, dict]]:
    found = []
    for name, option in (tree or {}).items():
        found.append((name, option))
        found += _options(option.get("options"))
    return found


@pytest.mark.parametrize("role", ROLES)
def test_every_argument_spec_option_is_well_formed(role):
    # A description in YAML flow style with a comma in it splits into bogus keys.
    specs = yaml.safe_load((ROLES_DIR / role / "meta" / "argument_specs.yml").read_text())
    for name, option in _options(specs["argument_specs"]["main"]["options"]):
        assert set(option) <= OPTION_KEYS, (
            f"{role}.{name}: unexpected keys {set(option) - OPTION_KEYS}"
        )
        description = option.get("description")
        assert isinstance(description, str) and description.strip(), f"{role}.{name}"
        assert not description.rstrip().endswith("("), f"{role}.{name}: cut short"


def test_no_role_default_hard_codes_what_the_inventory_decides():
    # Lab paths, lab addresses and pinned versions come from the inventory (and
    # versions.yml); a default that repeats them goes stale silently.
    pattern = re.compile(r"/var/lib/cdclab|198\.18\.|kafka-\d|\d+\.\d+\.\d+\.Final")
    for role in ROLES:
        text = (ROLES_DIR / role / "defaults" / "main.yml").read_text()
        for line in text.splitlines():
            if not line.lstrip().startswith("#"):
                assert not pattern.search(line), f"{role}: {line}"
