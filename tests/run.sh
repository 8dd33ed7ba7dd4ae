#!/bin/sh
# Run every test binary in $1/tests (default build/tests) from the repository root and
# sum their counts. Each binary prints a last line "RESULT <passed> <failed> <skipped>".
# Ends with the line "N passed, N failed, N skipped"; exit status 1 if anything failed.
BUILD=${1:-build}
PONDER_BIN="$BUILD/ponder"; export PONDER_BIN
pass=0; fail=0; skip=0; broken=""
for t in "$BUILD"/tests/test_*; do
    [ -x "$t" ] || continue
    out=$("$t" 2>&1); rc=$?
    printf '%s\n' "$out" | grep -v '^RESULT ' | grep -E '^(FAIL|SKIP|not ok)|^  ' | head -40
    line=$(printf '%s\n' "$out" | grep '^RESULT ' | tail -1)
    if [ -z "$line" ]; then
        echo "FAIL $(basename "$t"): exited $rc without a RESULT line"
        printf '%s\n' "$out" | tail -20
        fail=$((fail + 1)); broken="$broken $(basename "$t")"; continue
    fi
    set -- $line
    echo "$(basename "$t"): $2 passed, $3 failed, $4 skipped"
    pass=$((pass + $2)); fail=$((fail + $3)); skip=$((skip + $4))
    if [ "$rc" -ne 0 ] && [ "$3" -eq 0 ]; then
        echo "FAIL $(basename "$t"): exit status $rc"; fail=$((fail + 1))
    fi
done
echo "$pass passed, $fail failed, $skip skipped"
[ "$fail" -eq 0 ]
