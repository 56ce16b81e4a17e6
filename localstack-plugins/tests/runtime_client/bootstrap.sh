#!/bin/bash
# A bash + curl custom runtime: echoes the event back, posting the response with chunked encoding
# (HTTP/1.1 clients such as hyper may stream bodies that way).
set -euo pipefail
API="http://${AWS_LAMBDA_RUNTIME_API}/2018-06-01/runtime"
while true; do
  headers="$(mktemp)"
  event="$(curl -sS -D "$headers" "$API/invocation/next")"
  request_id="$(grep -i '^Lambda-Runtime-Aws-Request-Id:' "$headers" | cut -d' ' -f2 | tr -d '\r\n')"
  rm -f "$headers"
  echo "bash runtime got $event"
  printf '{"bash_echo":%s}' "$event" | curl -sS -o /dev/null -H 'Transfer-Encoding: chunked' \
    -H 'Content-Type: application/json' --data-binary @- "$API/invocation/$request_id/response"
done
