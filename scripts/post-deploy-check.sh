#!/usr/bin/env bash
# Post-deploy gate: wait until the new version is healthy, run the smoke flows
# with samples, compare latencies with a baseline (a saved file if given, else
# a running probe's history in Prometheus if given), push the results and a
# deploy marker to a Pushgateway if configured, write JUnit and JSON reports,
# and exit with smokeprobe's code — the deploy script rolls back on non-zero.
#
# Every input is an environment variable (defaults in brackets):
#   SMOKEPROBE            the smokeprobe binary [smokeprobe]
#   PROBE_FILES           probe files, space-separated [probes/contravento.yaml]
#   ACCEPT_FILES          findings files (--accept), space-separated: accepted
#                         rule failures, each with a reason and an end date
#                         [probes/contravento.accepted.yaml with the default
#                         PROBE_FILES, none otherwise; "none" for none]
#   SMOKEPROBE_VARS       probe variables, space-separated NAME=VALUE [none]
#   SMOKEPROBE_PASSWORD   the probe account's password, passed as the secret
#                         `password` via ${env:…}: it is never on a command
#                         line and never echoed [unset: no password]
#   CA_FILE               extra CA certificates to trust (PEM) [none]
#   FLOWS                 flows to run, space-separated [all non-optional]
#   HEALTH_FLOW           the flow that says "healthy" [health]
#   WAIT_HEALTHY          how long to wait for it; 0 skips waiting [2m]
#   SAMPLES               runs per flow; a baseline comparison needs at least
#                         MIN_SAMPLES on both sides (also when SAVE_BASELINE) [20]
#   MIN_SAMPLES           fewer samples per step than this make the baseline
#                         comparison inconclusive, which fails the gate [20]
#   BASELINE_FILE         compare with this saved baseline [none]
#   SAVE_BASELINE         save this run as a baseline (pre-deploy) [none]
#   BASELINE_PROMETHEUS   else compare with this Prometheus' history [none]
#   BASELINE_WINDOW       its history window [1h]
#   BASELINE_OFFSET       the window ends this long ago [0s]
#   MAX_RATIO             p95 ratio a regression must exceed [1.25]
#   REGRESSION_FLOOR      absolute p95 growth (or median shift, by its 95 %
#                         lower bound) a regression must exceed [20ms]
#   MAX_SHIFT_RATIO       (median + that bound) / median the median-shift rule
#                         must exceed [1.10]
#   PUSHGATEWAY           push results (and the marker) here [none]
#   DEPLOY_VERSION        deploy marker version (needs PUSHGATEWAY) [none]
#   PUSH_JOB              Pushgateway job [smokeprobe_once]
#   REPORT_DIR            report.json and junit.xml go here [smokeprobe-reports]
#
# Exit codes (smokeprobe's): 0 passed; 1 a flow, budget or latency baseline
# failed, or the baseline comparison was inconclusive (too few samples: roll
# back or rerun with more); 2 invalid configuration or no verdict possible (e.g.
# Prometheus unreachable); 3 never became healthy (roll back). A failed push
# to the Pushgateway is only a warning.
set -euo pipefail

SMOKEPROBE="${SMOKEPROBE:-smokeprobe}"
if [ -z "${PROBE_FILES:-}" ]; then
  PROBE_FILES="probes/contravento.yaml"
  ACCEPT_FILES="${ACCEPT_FILES:-probes/contravento.accepted.yaml}"
fi
ACCEPT_FILES="${ACCEPT_FILES:-}"
if [ "$ACCEPT_FILES" = "none" ]; then ACCEPT_FILES=""; fi
SMOKEPROBE_VARS="${SMOKEPROBE_VARS:-}"
CA_FILE="${CA_FILE:-}"
FLOWS="${FLOWS:-}"
HEALTH_FLOW="${HEALTH_FLOW:-health}"
WAIT_HEALTHY="${WAIT_HEALTHY:-2m}"
SAMPLES="${SAMPLES:-20}"
BASELINE_FILE="${BASELINE_FILE:-}"
SAVE_BASELINE="${SAVE_BASELINE:-}"
BASELINE_PROMETHEUS="${BASELINE_PROMETHEUS:-}"
BASELINE_WINDOW="${BASELINE_WINDOW:-1h}"
BASELINE_OFFSET="${BASELINE_OFFSET:-0s}"
MAX_RATIO="${MAX_RATIO:-1.25}"
REGRESSION_FLOOR="${REGRESSION_FLOOR:-20ms}"
MAX_SHIFT_RATIO="${MAX_SHIFT_RATIO:-1.10}"
MIN_SAMPLES="${MIN_SAMPLES:-20}"
PUSHGATEWAY="${PUSHGATEWAY:-}"
DEPLOY_VERSION="${DEPLOY_VERSION:-}"
PUSH_JOB="${PUSH_JOB:-smokeprobe_once}"
REPORT_DIR="${REPORT_DIR:-smokeprobe-reports}"

mkdir -p "$REPORT_DIR"

read -r -a files <<<"$PROBE_FILES"
args=(once "${files[@]}" --quiet --samples "$SAMPLES"
  --json "$REPORT_DIR/report.json" --junit "$REPORT_DIR/junit.xml"
  --max-ratio "$MAX_RATIO" --regression-floor "$REGRESSION_FLOOR"
  --max-shift-ratio "$MAX_SHIFT_RATIO" --min-samples "$MIN_SAMPLES")

read -r -a accepts <<<"$ACCEPT_FILES"
for a in "${accepts[@]}"; do
  args+=(--accept "$a")
done

read -r -a vars <<<"$SMOKEPROBE_VARS"
for v in "${vars[@]}"; do
  args+=(--var "$v")
done
if [ -n "${SMOKEPROBE_PASSWORD:-}" ]; then
  # Literal ${env:…}: smokeprobe reads the value from its environment.
  # shellcheck disable=SC2016
  args+=(--secret 'password=${env:SMOKEPROBE_PASSWORD}')
  export SMOKEPROBE_PASSWORD
fi
if [ -n "$CA_FILE" ]; then args+=(--ca-file "$CA_FILE"); fi
read -r -a flows <<<"$FLOWS"
for f in "${flows[@]}"; do
  args+=(--flow "$f")
done
if [ "$WAIT_HEALTHY" != "0" ]; then
  args+=(--wait-healthy "$WAIT_HEALTHY" --health-flow "$HEALTH_FLOW")
fi
if [ -n "$SAVE_BASELINE" ]; then args+=(--save-baseline "$SAVE_BASELINE"); fi
if [ -n "$BASELINE_FILE" ]; then
  args+=(--baseline "$BASELINE_FILE")
elif [ -n "$BASELINE_PROMETHEUS" ]; then
  args+=(--baseline-prometheus "$BASELINE_PROMETHEUS"
    --baseline-window "$BASELINE_WINDOW" --baseline-offset "$BASELINE_OFFSET")
fi
if [ -n "$PUSHGATEWAY" ]; then
  args+=(--pushgateway "$PUSHGATEWAY" --push-job "$PUSH_JOB")
  if [ -n "$DEPLOY_VERSION" ]; then args+=(--deploy-version "$DEPLOY_VERSION"); fi
fi

code=0
"$SMOKEPROBE" "${args[@]}" || code=$?

case "$code" in
  0) verdict="passed" ;;
  1) verdict="FAILED: a flow, a latency budget or the baseline comparison failed (or was inconclusive) — roll back" ;;
  2) verdict="invalid configuration or no verdict possible" ;;
  3) verdict="never became healthy — roll back" ;;
  *) verdict="unexpected exit code" ;;
esac
echo "post-deploy check: exit $code ($verdict); reports in $REPORT_DIR" >&2
exit "$code"
