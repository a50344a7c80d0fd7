# The body of this plan's pull request comment, marked per stack and environment so that the
# step posting it can find and update its own comment on the next push.
body="$RUNNER_TEMP/mlops-pr-comment.md"
{
  echo "<!-- mlops-plan: $STACK_DIR${STACK_ENV:+ $STACK_ENV} -->"
  echo "#### mlops plan: $STACK_NAME${STACK_ENV:+ ($STACK_ENV)}"
  echo
  echo '````text'
  head -c 60000 "$STACK_DIR/plan.txt"
  echo '````'
} > "$body"
echo "body-file=$body" >> "$GITHUB_OUTPUT"
