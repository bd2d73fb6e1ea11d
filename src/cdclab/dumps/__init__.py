"""Thread dumps: taking them (jcmd over SSH) and reading them (binlog threads classified)."""
