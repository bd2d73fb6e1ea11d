# Does the pid file ($1) name a running process that is really its own?
# 0: yes. 1: no process, a zombie, or a later process that reused the pid (pids wrap; the
# file outlives reboots and lab.down). 3: no pid file. The process must have started within
# 10 s of the file's write, as start-stop-daemon and sshd write it; src/cdclab/lab/processes.py
# applies the same rule.
pidfile=$1
pid=$(cat "$pidfile" 2>/dev/null) || exit 3
case $pid in '' | *[!0-9]*) exit 3 ;; esac
stat=$(cat "/proc/$pid/stat" 2>/dev/null) || exit 1
# Fields after "(command) ": the state first, the start time (in clock ticks) 20th.
set -- ${stat##*") "}
[ "$1" != Z ] || exit 1
shift 19
started=$(($(awk '/^btime /{print $2}' /proc/stat) + $1 / $(getconf CLK_TCK)))
written=$(stat -c %Y "$pidfile" 2>/dev/null) || exit 1
[ $((started - written)) -le 10 ] && [ $((written - started)) -le 10 ] || exit 1
