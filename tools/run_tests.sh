#!/usr/bin/env bash
# Run the test suite in the project's virtual environment (set up by tools/install.sh).
# Extra arguments go to pytest. Exit code 5 (no tests collected) counts as a failure.
set -uo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
.venv/bin/python -m pytest tests "$@"
status=$?
if [[ $status -eq 5 ]]; then
  echo "error: pytest collected no tests (exit 5); treating it as a failure" >&2
  exit 1
fi
exit $status
