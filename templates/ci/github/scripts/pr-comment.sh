# The body of this plan's pull request comment, in Markdown. Its first line is a hidden marker
# naming the stack and environment (and the plan's digest), by which the next step finds and
# updates this comment on the next push rather than add another.
body="$RUNNER_TEMP/mlops-pr-comment.md"
mlops --chdir "$STACK_DIR" ${STACK_ENV:+--env "$STACK_ENV"} show --format markdown plan.bin > "$body"
echo "body-file=$body" >> "$GITHUB_OUTPUT"
