#!/usr/bin/env sh
# Runs a command with an X display. gpu.js's headlessgl mode (headless-gl) needs one, and the
# cross-backend tests (tests/gpu) run on every mode: without a display and without xvfb-run
# the headlessgl suites fail, loudly, rather than pass on a cpu fallback.
if [ -z "${DISPLAY:-}" ] && command -v xvfb-run >/dev/null 2>&1; then
  exec xvfb-run -a "$@"
fi
exec "$@"
