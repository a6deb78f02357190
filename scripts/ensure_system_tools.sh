#!/usr/bin/env bash
# Make sure the system tools a command needs are installed, before it starts.
#
#   scripts/ensure_system_tools.sh [--optional "what happens without it"] "make faults" TOOL...
#
# TOOL is one of:
#   python           Python 3.11/3.12 with venv ($PYTHON, default python3.11 or python3)
#   chromium         /usr/bin/chromium, for the browser tests (Playwright)
#   redis-server     redis-server and redis-cli (the fault suite starts its own Redis)
#   postgres-server  PostgreSQL's server binaries: initdb, pg_ctl (the fault suite
#                    starts its own cluster)
#   faketime         libfaketime (the fault suite's fleet runs a second "machine" whose
#                    clock is a few seconds ahead)
#
# A missing tool is installed with apt-get when running as root (set
# GHSYNC_NO_APT_INSTALL=1 to never install). Otherwise one line names it with the
# install command, and the exit status is 1; with --optional, the line says what the
# command does without it and the exit status is 0.
set -uo pipefail

optional=""
if [ "${1:-}" = "--optional" ]; then
  optional="${2:?--optional needs a note}"
  shift 2
fi
what="${1:?usage: $0 [--optional NOTE] COMMAND TOOL...}"
shift
PYTHON="${PYTHON:-$(command -v python3.11 || command -v python3 || echo python3)}"

pg_bin() {
  if [ -n "${GHSYNC_FAULTS_PG_BIN:-}" ]; then
    echo "$GHSYNC_FAULTS_PG_BIN"
    return
  fi
  ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1
}

# libfaketime's shared object (tests/faults/infra.py looks in the same places)
libfaketime_path() {
  ls /usr/lib/*/faketime/libfaketime.so.1 /usr/lib/faketime/libfaketime.so.1 2>/dev/null | head -n1
}

# present TOOL: exit 0 when it is usable
present() {
  case "$1" in
    python)
      "$PYTHON" -c 'import sys, ensurepip, venv; sys.exit(not ((3, 11) <= sys.version_info[:2] <= (3, 12)))' \
        >/dev/null 2>&1 ;;
    chromium) [ -x /usr/bin/chromium ] ;;
    redis-server) command -v redis-server >/dev/null 2>&1 && command -v redis-cli >/dev/null 2>&1 ;;
    postgres-server)
      local bin
      bin="$(pg_bin)"
      [ -n "$bin" ] && [ -x "$bin/initdb" ] && [ -x "$bin/pg_ctl" ] ;;
    faketime) [ -n "$(libfaketime_path)" ] ;;
    *) echo "ensure_system_tools.sh: unknown tool $1" >&2; return 2 ;;
  esac
}

# package TOOL: the Debian package that provides it
package() {
  case "$1" in
    python)
      if "$PYTHON" -c 'import sys; sys.exit(not ((3, 11) <= sys.version_info[:2] <= (3, 12)))' \
        >/dev/null 2>&1; then
        echo "python3-venv"  # the right version, without ensurepip (Debian splits it out)
      else
        echo "python3.11 python3.11-venv"
      fi ;;
    chromium) echo chromium ;;
    redis-server) echo redis-server ;;
    postgres-server) echo postgresql ;;
    faketime) echo faketime ;;
  esac
}

missing=()
for tool in "$@"; do
  present "$tool"
  case $? in
    0) ;;
    2) exit 2 ;;
    *) missing+=("$tool") ;;
  esac
done
[ ${#missing[@]} -eq 0 ] && exit 0

packages=()
for tool in "${missing[@]}"; do
  read -r -a more <<<"$(package "$tool")"
  packages+=("${more[@]}")
done

if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 && [ -z "${GHSYNC_NO_APT_INSTALL:-}" ]; then
  echo "$what needs ${missing[*]}: installing ${packages[*]} with apt-get"
  export DEBIAN_FRONTEND=noninteractive
  lock=(-o DPkg::Lock::Timeout=600)
  if ! { apt-get "${lock[@]}" update -qq &&
    apt-get "${lock[@]}" install -y -qq "${packages[@]}" >/dev/null; }; then
    echo "$what: apt-get install ${packages[*]} failed (see above)"
  fi
  still=()
  for tool in "${missing[@]}"; do
    present "$tool" || still+=("$tool")
  done
  missing=("${still[@]+"${still[@]}"}")
  [ ${#missing[@]} -eq 0 ] && exit 0
fi

if [ -n "$optional" ]; then
  echo "$what without ${missing[*]}: $optional (to add it:  sudo apt-get install ${packages[*]})"
  exit 0
fi
echo "$what needs ${missing[*]}: install with  sudo apt-get install ${packages[*]}"
exit 1
