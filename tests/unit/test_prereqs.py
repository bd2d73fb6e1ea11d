"""Missing prerequisites stop the lab at once with a message that names them and the fix."""

from __future__ import annotations

import pytest

from cdclab.errors import PrerequisiteError
from cdclab.prereqs import LAB_PROGRAMS, check_lab_prerequisites, check_root


def _all_present(name: str) -> str:
    return f"/usr/bin/{name}"


def test_everything_present_passes():
    check_lab_prerequisites(euid=0, which=_all_present)


def test_not_root_is_named_with_the_fix():
    with pytest.raises(PrerequisiteError) as caught:
        check_lab_prerequisites(euid=1000, which=_all_present)
    assert "root" in str(caught.value)
    assert "sudo" in str(caught.value)


@pytest.mark.parametrize("program", LAB_PROGRAMS, ids=lambda p: p.name)
def test_each_missing_program_is_named_with_its_package(program):
    def which(name: str) -> str | None:
        return None if name == program.name else f"/usr/bin/{name}"

    with pytest.raises(PrerequisiteError) as caught:
        check_lab_prerequisites(euid=0, which=which)
    message = str(caught.value)
    assert f"{program.name}:" in message
    assert program.fix in message
    # Only the missing one is listed.
    assert message.count("Install:") == 1


def test_everything_missing_lists_everything_at_once():
    with pytest.raises(PrerequisiteError) as caught:
        check_lab_prerequisites(euid=1000, which=lambda name: None)
    assert str(caught.value).count("Install:") == len(LAB_PROGRAMS)
    assert caught.value.exit_code != 0


def test_check_root():
    check_root(euid=0)
    with pytest.raises(PrerequisiteError, match="root"):
        check_root(euid=1)
