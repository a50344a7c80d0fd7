# --detailed-exitcode: 0 no changes, 2 changes (a success here), anything else an error. The
# text (warnings and errors included) goes to the log, to plan.txt and to the job summary.
set +e
mlops --chdir "$STACK_DIR" ${STACK_ENV:+--env "$STACK_ENV"} plan --out plan.bin --detailed-exitcode 2>&1 \
  | tee "$STACK_DIR/plan.txt"
code=${PIPESTATUS[0]}
set -e
case "$code" in
  0) outcome="no changes" ;;
  2) outcome="changes" ;;
  *) outcome="failed" ;;
esac
{
  echo "### $SUMMARY_TITLE: $STACK_NAME${STACK_ENV:+ ($STACK_ENV)}"
  echo
  echo "\`$STACK_DIR\`: $outcome (exit code $code)"
  echo
  echo '````text'
  cat "$STACK_DIR/plan.txt"
  echo '````'
} >> "$GITHUB_STEP_SUMMARY"
echo "exitcode=$code" >> "$GITHUB_OUTPUT"
case "$code" in
  0) echo "changes=false" >> "$GITHUB_OUTPUT" ;;
  2) echo "changes=true" >> "$GITHUB_OUTPUT" ;;
  *) exit "$code" ;;
esac
