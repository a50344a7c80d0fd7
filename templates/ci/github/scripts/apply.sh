# Applies exactly the plan above, shown in the job summary: `apply plan.bin` refuses when state,
# the cloud or the stack file changed since it was made.
if [ "$PLAN_CHANGES" != "true" ]; then
  echo "No changes: nothing to apply."
  exit 0
fi
set +e
mlops --chdir "$STACK_DIR" ${STACK_ENV:+--env "$STACK_ENV"} apply plan.bin 2>&1 | tee "$STACK_DIR/apply.txt"
code=${PIPESTATUS[0]}
set -e
{
  echo
  echo "#### Apply: exit code $code"
  echo
  echo '````text'
  cat "$STACK_DIR/apply.txt"
  echo '````'
} >> "$GITHUB_STEP_SUMMARY"
exit "$code"
