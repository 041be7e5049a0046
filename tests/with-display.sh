#!/usr/bin/env sh
# Runs a command with an X display. gpu.js's headlessgl mode (headless-gl) needs one, and the
# cross-backend tests (tests/gpu) run on every mode: without a display and without xvfb-run
# the headlessgl suites are skipped and named in the run's closing line (or, with
# GPUJS_MODES_REQUIRED=1 as in CI, fail), never run on a silent cpu fallback.
if [ -z "${DISPLAY:-}" ] && command -v xvfb-run >/dev/null 2>&1; then
  exec xvfb-run -a "$@"
fi
exec "$@"
