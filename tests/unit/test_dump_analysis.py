"""Thread-dump classification. The idle dump is the shared reference captured on this
machine kind; the close-blocked and reconnecting dumps are written from the signatures in
FACTS.md (DBZ-7570 / JDK-8241239, binlog-client #133): no lab reproduces the hang on
demand, so a hand-built dump is the only way to pin those classes."""

from pathlib import Path

from cdclab.dumps.analyze import analyze_file

DUMPS = Path(__file__).parent / "dumps"


def _classes(name):
    analysis = analyze_file(DUMPS / name)
    return {t.name: t for t in analysis.threads}, analysis


def test_idle_reader_is_waiting_for_data_with_the_caveat():
    threads, analysis = _classes("binlog-reader-idle-tls13.txt")
    assert threads["main"].klass == "waiting-for-data"
    assert threads["main"].cpu_ms == 411.1 and threads["main"].elapsed_s == 200.92
    assert threads["blc-keepalive-10.231.1.2:3306"].klass == "other"  # sleeping between checks
    assert "healthy idle" in analysis.note
    assert analysis.jvm.startswith("17.0.21")
    assert "Reference Handler" not in threads  # only binlog threads are reported


def test_close_blocked_keepalive_names_the_lock_owner():
    threads, _ = _classes("close-blocked-tls13.txt")
    keepalive = threads["blc-keepalive-198.18.213.10:3306"]
    assert keepalive.klass == "close-blocked"
    assert keepalive.lock_owner == "blc-198.18.213.10:3306"
    assert "ReentrantLock" in keepalive.waiting_on
    assert threads["blc-198.18.213.10:3306"].klass == "write-blocked"


def test_reconnecting_reader_and_latch_waiting_keepalive_jdk11():
    threads, analysis = _classes("reconnecting.txt")
    assert {t.klass for t in threads.values()} == {"reconnecting"}
    assert analysis.note is None
