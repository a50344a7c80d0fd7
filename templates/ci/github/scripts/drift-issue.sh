# One open issue per stack and environment: created on the first drift found, updated while it
# lasts, closed by the first check that finds none. Drift fails the job, after the issue.
export TITLE="Drift: $STACK_NAME${STACK_ENV:+ ($STACK_ENV)}"
run_url="$GITHUB_SERVER_URL/$GITHUB_REPOSITORY/actions/runs/$GITHUB_RUN_ID"
number=$(gh issue list --state open --search "\"$TITLE\" in:title" --json number,title \
  --jq '.[] | select(.title == env.TITLE) | .number' | head -n 1)
if [ "$DRIFT_EXITCODE" = "0" ]; then
  if [ -n "$number" ]; then
    gh issue close "$number" --comment "No drift found by $run_url."
  fi
  exit 0
fi
body="$RUNNER_TEMP/mlops-drift-issue.md"
{
  echo "The drift check of \`$STACK_DIR\`${STACK_ENV:+ (environment $STACK_ENV)} found changes made outside mlops: $run_url"
  echo
  echo "Undo them by running the mlops apply workflow, or keep them: change the stack file to match and record them in state with \`mlops apply --refresh-only\`."
  echo
  echo '````text'
  head -c 60000 "$STACK_DIR/drift.txt"
  echo '````'
} > "$body"
if [ -n "$number" ]; then
  gh issue edit "$number" --body-file "$body"
  echo "Updated issue #$number: $TITLE"
else
  gh issue create --title "$TITLE" --body-file "$body"
fi
echo "::error::drift in $STACK_DIR${STACK_ENV:+ ($STACK_ENV)}: see the issue \"$TITLE\""
exit 1
