# shellcheck shell=bash
# Shared helpers of the scripts in scripts/ (logging, finding a Python, processes, the exit-trap
# chain). Source it; it expects `set -euo pipefail` in the caller. The emulator helpers are in
# emulators.sh, which sources this file.

REPO_ROOT="${REPO_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"

log() { printf '%s %s\n' "[$(basename "$0")]" "$*" >&2; }
die() { log "error: $*"; exit 1; }

# on_exit CMD [ARGS...]: runs CMD when the script exits, however it exits (a failed step, a
# signal, the end). The chain runs the last registered first; a failing command does not stop the
# others; the script keeps its exit status, which the commands can read as $EXIT_STATUS. A script
# that uses on_exit sets no EXIT trap of its own.
_exit_chain=()
on_exit() {
  _exit_chain+=("$(printf '%q ' "$@")")
  trap _run_exit_chain EXIT
}
_run_exit_chain() {
  EXIT_STATUS=$?
  local i
  for ((i = ${#_exit_chain[@]} - 1; i >= 0; i--)); do
    eval "${_exit_chain[i]}" || true
  done
  exit "$EXIT_STATUS"
}

# find_python MIN_MINOR -> prints the path of a python3.X with X >= MIN_MINOR, or nothing.
# Looks at $PYTHON_FOR_VENV first, then pyenv's versions dir, then PATH.
find_python() {
  local min="$1" cand v
  local -a cands=()
  [[ -n "${PYTHON_FOR_VENV:-}" ]] && cands+=("$PYTHON_FOR_VENV")
  local pyroot
  pyroot="$( (command -v pyenv >/dev/null && pyenv root) 2>/dev/null || echo "$HOME/.pyenv")"
  if [[ -d "$pyroot/versions" ]]; then
    for cand in "$pyroot"/versions/3.1[2-9]*/bin/python3; do
      [[ -x "$cand" ]] && cands+=("$cand")
    done
  fi
  for v in python3.13 python3.14 python3.12 python3; do
    cand="$(command -v "$v" 2>/dev/null || true)"
    [[ -n "$cand" ]] && cands+=("$cand")
  done
  for cand in "${cands[@]}"; do
    if "$cand" -c "import sys; sys.exit(0 if sys.version_info >= (3, $min) else 1)" 2>/dev/null; then
      printf '%s\n' "$cand"; return 0
    fi
  done
  return 0
}

# python_minor PYTHON -> prints e.g. 12
python_minor() { "$1" -c 'import sys; print(sys.version_info[1])'; }

# The installer of the project's Python venvs. uv resolves, downloads and unpacks in parallel:
# from a cold cache, LocalStack's dependencies took pip 66 s of CPU and uv 10 s -- and scripts/test
# installs five venvs while the Rust build wants both cores.
UV_PIN="uv==0.13.9"

# python_venv VENV PYTHON PACKAGE...: makes VENV (created with PYTHON when missing) hold PACKAGE...,
# installed with uv. A stamp in VENV records the list, so that a second call with the same list
# returns at once.
python_venv() {
  local venv="$1" py="$2"
  shift 2
  local want="$UV_PIN $*" stamp="$venv/.alchemiser-deps.stamp" t0=$SECONDS
  if [[ ! -x "$venv/bin/python" ]]; then
    log "creating $venv with $py"
    "$py" -m venv "$venv" || die "could not create $venv with $py"
  fi
  [[ "$(cat "$stamp" 2>/dev/null || true)" != "$want" ]] || return 0
  log "installing $* into $venv"
  "$venv/bin/pip" install --quiet "$UV_PIN" || die "pip install $UV_PIN into $venv failed"
  "$venv/bin/uv" pip install --quiet --python "$venv/bin/python" "$@" || die "installing $* into $venv failed"
  printf '%s' "$want" > "$stamp"
  log "installed in $((SECONDS - t0)) s"
}

# pid_alive PIDFILE -> 0 when the pid in the file is a live process
pid_alive() {
  local f="$1" pid
  [[ -f "$f" ]] || return 1
  pid="$(cat "$f" 2>/dev/null || true)"
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  kill -0 "$pid" 2>/dev/null
}

# http_ok URL -> 0 when the URL answers 2xx
http_ok() { curl -fsS -o /dev/null --max-time 2 "$1" 2>/dev/null; }

# port_in_use PORT -> 0 when something listens on 127.0.0.1:PORT
port_in_use() {
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# stop_pidfile NAME PIDFILE GRACE_SECONDS
# SIGTERM the process, wait up to GRACE seconds, then SIGKILL its process group
# (the servers are started with setsid, so the group holds their children).
stop_pidfile() {
  local name="$1" f="$2" grace="$3" pid i
  if ! pid_alive "$f"; then
    rm -f "$f"; log "$name is not running"; return 0
  fi
  pid="$(cat "$f")"
  log "stopping $name (pid $pid)"
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < grace * 10; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$pid" 2>/dev/null; then
    log "$name did not stop within ${grace}s: SIGKILL"
    kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
    for ((i = 0; i < 50; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  fi
  # leftovers in the group (e.g. Lambda bootstrap processes): terminate them too
  kill -TERM -- "-$pid" 2>/dev/null || true
  rm -f "$f"
  log "$name stopped"
}

# kill_tree PID...: SIGTERM each process and every process below it. A background job is a
# subshell: killing only it would leave its cargo and rustc building on after the script is gone.
kill_tree() {
  local -a to_stop=() pending=("$@") children
  local pid
  while ((${#pending[@]})); do
    pid="${pending[0]}"
    pending=("${pending[@]:1}")
    to_stop+=("$pid")
    mapfile -t children < <(pgrep -P "$pid" || true)
    pending+=("${children[@]}")
  done
  ((${#to_stop[@]} == 0)) || kill -TERM "${to_stop[@]}" 2>/dev/null || true
}

# hash_tree DIR... -> sha256 over the files' paths and contents (ignores caches/build output/tests)
hash_tree() {
  local d
  for d in "$@"; do
    (cd "$d" && find . -type f \
      -not -path '*/__pycache__/*' -not -path '*/.pytest_cache/*' -not -path './build/*' \
      -not -path '*.egg-info/*' -not -path './tests/*' -not -name '*.pyc' -print0 \
      | LC_ALL=C sort -z | xargs -0 sha256sum)
  done | sha256sum | cut -d' ' -f1
}

# routing_handlers -> the handlers of the routing table (lib/events/routes.json), one per line:
# every script that loops over the functions takes them from there, the one list.
routing_handlers() {
  python3 -c 'import json, sys; print("\n".join(json.load(open(sys.argv[1]))["handlers"]))' \
    "$REPO_ROOT/lib/events/routes.json"
}
