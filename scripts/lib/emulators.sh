# shellcheck shell=bash
# The emulators -- LocalStack (scripts/localstack) and moto (scripts/moto) -- as the test and
# bench scripts use them. Source it after `set -euo pipefail`; it sources common.sh.
#
#   ensure_emulator [--keep] NAME   starts NAME (localstack|moto) unless it already runs; stops it
#                                   when the script exits only if it started it here (--keep: never)
#   emulator_started NAME           0 when ensure_emulator started NAME in this script
#   emulator_endpoint NAME          prints http://127.0.0.1:<port> (LOCALSTACK_PORT, MOTO_PORT)
#   export_emulator_endpoints       exports LOCALSTACK_ENDPOINT and MOTO_ENDPOINT (the Python
#                                   helpers in tests/support/emulators.py read them)
#   emulator_credentials_env        the environment of an AWS SDK client of the emulators: their
#                                   dummy credentials, us-east-1; unsets what would send it
#                                   elsewhere (profile, session token, the publisher's EVENTBRIDGE_*)
#   emulator_client_env ENDPOINT    the same, and AWS_ENDPOINT_URL=ENDPOINT
#   emulator_client_env_script [ENDPOINT]  prints those settings as shell lines
#
# scripts/localstack and scripts/moto read LOCALSTACK_PORT / LOCALSTACK_VENV / LOCALSTACK_STATE_DIR
# and MOTO_PORT / MOTO_STATE_DIR themselves, so a private pair can run beside a shared one.

# shellcheck source=common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

EMULATORS_STARTED=()

ensure_emulator() {
  local keep=false
  if [[ "${1:-}" == --keep ]]; then keep=true; shift; fi
  local name="${1:?ensure_emulator needs localstack or moto}"
  case "$name" in localstack | moto) ;; *) die "ensure_emulator: unknown emulator '$name'" ;; esac
  if "$REPO_ROOT/scripts/$name" status >/dev/null 2>&1; then
    return 0
  fi
  log "$name is not running: starting it"
  "$REPO_ROOT/scripts/$name" start >/dev/null
  EMULATORS_STARTED+=("$name")
  $keep || on_exit stop_emulator "$name"
}

# stop_emulator NAME: what ensure_emulator registers to run at exit.
stop_emulator() {
  log "stopping the $1 this script started"
  "$REPO_ROOT/scripts/$1" stop >&2 || true
}

emulator_started() {
  local name
  for name in "${EMULATORS_STARTED[@]}"; do
    [[ "$name" == "$1" ]] && return 0
  done
  return 1
}

emulator_endpoint() {
  case "$1" in
    localstack) printf 'http://127.0.0.1:%s\n' "${LOCALSTACK_PORT:-4566}" ;;
    moto) printf 'http://127.0.0.1:%s\n' "${MOTO_PORT:-5050}" ;;
    *) die "emulator_endpoint: unknown emulator '$1'" ;;
  esac
}

export_emulator_endpoints() {
  LOCALSTACK_ENDPOINT="$(emulator_endpoint localstack)"
  MOTO_ENDPOINT="$(emulator_endpoint moto)"
  export LOCALSTACK_ENDPOINT MOTO_ENDPOINT
}

# The shell lines of emulator_credentials_env (and, given an endpoint, AWS_ENDPOINT_URL): what
# `scripts/localstack client-env` prints for an operator's shell (docs/runbooks.md, LocalStack).
emulator_client_env_script() {
  cat <<'ENV'
export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test
export AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1
unset AWS_PROFILE AWS_SESSION_TOKEN
unset EVENTBRIDGE_BUS_NAME EVENTBRIDGE_OUTBOX_QUEUE_URL EVENTBRIDGE_OUTBOX_PATH EVENTBRIDGE_SOURCE_PREFIX
# LocalStack still enforces the pre-2026 limits: 256 KiB per PutEvents request and SQS message.
export EVENTBRIDGE_MAX_REQUEST_BYTES=262144 DEAD_LETTER_QUEUE_MAX_BYTES=262144
ENV
  if [[ -n "${1:-}" ]]; then
    printf 'export AWS_ENDPOINT_URL=%q\n' "$1"
  fi
}

emulator_credentials_env() {
  eval "$(emulator_client_env_script)"
}

emulator_client_env() {
  eval "$(emulator_client_env_script "${1:?emulator_client_env needs an endpoint}")"
}
