"""The kept instance's deploy record: what makes a deploy the same one (the skip on the
instance itself, containers up, is in tests/integration/test_aws_standin.py)."""

from __future__ import annotations

import tarfile
import zipfile
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from cdclab.targets import aws_deployed as deployed

scalars = st.one_of(st.booleans(), st.integers(), st.text(alphabet="abc:-_ ", max_size=6))
settings_ = st.dictionaries(st.sampled_from(["a", "b", "c", "cdclab_metrics"]), scalars)


def _wheelhouse(path: Path, body: bytes, stamp: tuple) -> Path:
    """A wheelhouse tarball of one wheel whose zip stamps `stamp` on its member."""
    wheel = path.parent / "cdclab-0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.writestr(zipfile.ZipInfo("cdclab/__init__.py", date_time=stamp), body)
    with tarfile.open(path, "w") as archive:
        archive.add(wheel, arcname=wheel.name)
    return path


def _deploy(
    tmp: Path, values: dict, password: str, ca: bytes, body: bytes, stamp=(2026, 1, 1, 0, 0, 0)
):
    """The extra vars of one deploy: a new random password file each time, as cdclab's."""
    secret = tmp / f".db-password-{len(list(tmp.iterdir()))}"
    secret.write_text(password)
    (tmp / "ca.pem").write_bytes(ca)
    return {
        **values,
        "cdclab_db_password_file": str(secret),
        "cdclab_db_ca_file": str(tmp / "ca.pem"),
        "cdclab_wheelhouse": str(_wheelhouse(tmp / "wheelhouse.tar", body, stamp)),
    }


@settings(max_examples=25, deadline=None)
@given(values=settings_, key=st.sampled_from(["a", "b", "c"]), change=scalars)
def test_the_same_deploy_has_the_same_digest_and_any_change_another(
    tmp_path_factory, values, key, change
):
    tmp = tmp_path_factory.mktemp("deploy")
    salt = b"0" * 16
    first = deployed.deploy_digest(_deploy(tmp, values, "pw-1", b"CA", b"code"), salt)
    # Again, with a new password file and a rebuilt wheel (another zip stamp): the same.
    again = _deploy(tmp, values, "pw-1", b"CA", b"code", stamp=(2026, 2, 2, 0, 0, 0))
    assert deployed.deploy_digest(again, salt) == first
    for other in (
        _deploy(tmp, values, "pw-2", b"CA", b"code"),  # a rotated password
        _deploy(tmp, values, "pw-1", b"CA2", b"code"),  # a new CA bundle at the same path
        _deploy(tmp, values, "pw-1", b"CA", b"code2"),  # another cdclab
    ):
        assert deployed.deploy_digest(other, salt) != first
    if values.get(key) != change:
        changed = _deploy(tmp, {**values, key: change}, "pw-1", b"CA", b"code")
        assert deployed.deploy_digest(changed, salt) != first


def test_the_record_keeps_its_salt_and_no_password(tmp_path):
    state = tmp_path / "state"
    state.mkdir()
    recorded, salt = deployed.load(state)
    assert recorded is None and deployed.load(state)[1] != salt  # no record: a new salt
    files = tmp_path / "files"
    files.mkdir()
    digest = deployed.deploy_digest(_deploy(files, {}, "s3cret-pw", b"CA", b"code"), salt)
    deployed.record(state, digest, salt)
    assert deployed.load(state) == (digest, salt)
    text = (state / deployed.RECORD).read_text()
    assert "s3cret-pw" not in text and (state / deployed.RECORD).stat().st_mode & 0o777 == 0o600
    deployed.forget(state)
    assert deployed.load(state)[0] is None
