# shellcheck shell=bash
# Test counting shared by scripts/test and scripts/e2e (sourced, not run). Each test step runs
# with its output shown as usual and copied to a log; its passed and failed counts are read from
# the runner's own summary (cargo's "test result:" lines, node's TAP "# pass"/"# fail", pytest's
# last line) and appended to one results file. The script that started the run prints the one
# summary line "N passed, M failed" as its last line and exits non-zero when M > 0.
#
# Results file: one line per step, "PASSED FAILED LABEL". scripts/test exports TEST_RESULTS so
# that scripts/e2e adds to the same file instead of printing a summary of its own.

# Where the steps' logs are kept after the run (ignored by git with the rest of target/).
TEST_LOGS="$(pwd)/target/test-logs"

# Joins the caller's run (TEST_RESULTS set) or starts one; the starter prints the summary.
results_begin() {
  mkdir -p "$TEST_LOGS"
  if [ -n "${TEST_RESULTS:-}" ]; then
    RESULTS_OWNER=0
    return
  fi
  RESULTS_OWNER=1
  RESULTS_STARTED=$SECONDS
  TEST_RESULTS="$TEST_LOGS/results"
  : >"$TEST_RESULTS"
  export TEST_RESULTS
  trap results_exit EXIT
}

# The failures recorded so far.
results_failed() {
  awk '{f += $2} END {print f + 0}' "$TEST_RESULTS"
}

# results_add LABEL RC [PASSED FAILED]: records a finished step. Without counts (the runner
# printed no summary: it crashed, or did not build) the step counts as one failure, and so does
# a non-zero exit that no failed test explains.
results_add() {
  local label=$1 rc=$2 passed=${3:-} failed=${4:-}
  if [ -z "$passed" ]; then
    echo "!! $label printed no test summary (exit $rc): counted as 1 failure" >&2
    passed=0 failed=1
  elif [ "$rc" != 0 ] && [ "$failed" = 0 ]; then
    echo "!! $label exited with $rc but reported no failed test: counted as 1 failure" >&2
    failed=1
  fi
  echo "$passed $failed $label" >>"$TEST_RESULTS"
}

# results_stop LABEL: a step that must pass before the tests run (install, fmt, clippy)
# failed; records it as one failure and ends the script.
results_stop() {
  echo "!! $1 failed; the remaining steps were not run" >&2
  echo "0 1 $1" >>"$TEST_RESULTS"
  exit 1
}

# run_logged LOG CMD...: runs CMD with its output shown and copied to LOG; its exit status is
# left in STEP_RC (the script goes on either way).
run_logged() {
  local log=$1
  shift
  STEP_RC=0
  "$@" 2>&1 | tee "$log" || STEP_RC=${PIPESTATUS[0]}
}

# Counts "PASSED FAILED" from the runners' own summaries; nothing when there is none.
# cargo test: one "test result: ok. 12 passed; 0 failed; …" line per test binary and doc-test run.
cargo_counts() {
  awk '/^test result: / {
         n++
         for (i = 2; i <= NF; i++) {
           if ($i == "passed;") p += $(i - 1)
           if ($i == "failed;") f += $(i - 1)
         }
       }
       END { if (n) print p + 0, f + 0 }' "$1"
}
# node --test, TAP reporter: "# pass N", "# fail N", "# cancelled N" (cancelled tests did not pass).
node_tap_counts() {
  awk '/^# pass [0-9]+$/ { p = $3; n = 1 }
       /^# fail [0-9]+$/ { f += $3 }
       /^# cancelled [0-9]+$/ { f += $3 }
       END { if (n) print p + 0, f + 0 }' "$1"
}
# pytest -q: the last line, e.g. "5 passed, 1 failed, 2 errors in 3.02s" (errors are failures).
pytest_counts() {
  awk '/(passed|failed|errors?|no tests ran)[ ,].*in [0-9.]+s/ { last = $0 }
       END {
         if (last == "") exit
         n = split(last, w, /[ ,=]+/)
         for (i = 2; i <= n; i++) {
           if (w[i] == "passed") p += w[i - 1]
           if (w[i] == "failed" || w[i] == "error" || w[i] == "errors") f += w[i - 1]
         }
         print p + 0, f + 0
       }' "$1"
}

# EXIT trap of the script that started the run: the summary line, last, and the exit status.
results_exit() {
  local rc=$? failed
  trap - EXIT
  if [ "$rc" != 0 ] && [ "$(results_failed)" = 0 ]; then
    echo "!! stopped with exit status $rc" >&2
    echo "0 1 stopped" >>"$TEST_RESULTS"
  fi
  failed=$(results_failed)
  printf '\n==> finished in %d s; logs in %s\n' $((SECONDS - RESULTS_STARTED)) "$TEST_LOGS"
  awk '{p = $1; f = $2; $1 = $2 = ""; sub(/^ +/, ""); printf "    %s: %d passed, %d failed\n", $0, p, f}' \
    "$TEST_RESULTS"
  awk '{p += $1; f += $2} END {printf "%d passed, %d failed\n", p, f}' "$TEST_RESULTS"
  if [ "$failed" != 0 ]; then exit 1; fi
  exit 0
}
