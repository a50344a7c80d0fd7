# A refresh-only plan compares state with the cloud and changes neither. --detailed-exitcode:
# 0 no drift, 2 drift (reported by the next step), anything else an error.
set +e
mlops --chdir "$STACK_DIR" ${STACK_ENV:+--env "$STACK_ENV"} plan --refresh-only --detailed-exitcode 2>&1 \
  | tee "$STACK_DIR/drift.txt"
code=${PIPESTATUS[0]}
set -e
case "$code" in
  0) outcome="no drift" ;;
  2) outcome="drift" ;;
  *) outcome="failed" ;;
esac
{
  echo "### Drift: $STACK_NAME${STACK_ENV:+ ($STACK_ENV)}"
  echo
  echo "\`$STACK_DIR\`: $outcome (exit code $code)"
  echo
  echo '````text'
  cat "$STACK_DIR/drift.txt"
  echo '````'
} >> "$GITHUB_STEP_SUMMARY"
echo "exitcode=$code" >> "$GITHUB_OUTPUT"
if [ "$code" -ne 0 ] && [ "$code" -ne 2 ]; then
  exit "$code"
fi
