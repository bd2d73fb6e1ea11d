"""Parsing the server's per-connection TLS status and `ss` output into per-arm evidence."""

from cdclab.lab.tls_evidence import parse_sessions, parse_ss_ports

SESSIONS = (
    "10\t198.18.213.20:46500\tBinlog Dump\tTLSv1.3\tTLS_AES_256_GCM_SHA384\n"
    "13\t198.18.213.20:39170\tSleep\tTLSv1.2\tECDHE-RSA-AES256-GCM-SHA384\n"
    "20\t198.18.213.20:40000\tSleep\tNULL\tNULL\n"
)
SS = (
    "ESTAB 0 0 [::ffff:198.18.213.20]:39170 [::ffff:198.18.213.10]:3306 "
    'users:(("java",pid=19077,fd=175))\n'
    'ESTAB 0 0 198.18.213.20:46500 198.18.213.10:3306 users:(("java",pid=15903,fd=182))\n'
)


def test_sessions_are_parsed_with_purpose():
    rows = parse_sessions(SESSIONS)
    assert rows[0] == (10, 46500, "binlog", "TLSv1.3", "TLS_AES_256_GCM_SHA384")
    assert rows[1] == (13, 39170, "jdbc", "TLSv1.2", "ECDHE-RSA-AES256-GCM-SHA384")
    assert rows[2] == (20, 40000, "jdbc", None, None)


def test_ss_ports_map_to_pids_for_ipv4_and_mapped_ipv6():
    assert parse_ss_ports(SS) == {39170: 19077, 46500: 15903}
