# Guard rules on the plan (`mlops policy`), when there is a policy file: the stack's own
# ($STACK_DIR/.mlops-policy.yaml), else the repository's (.mlops-policy.yaml). A violation
# fails the check, after the comment above shows the plan.
policy=""
for candidate in "$STACK_DIR/.mlops-policy.yaml" ".mlops-policy.yaml"; do
  if [ -f "$candidate" ]; then
    policy="$candidate"
    break
  fi
done
if [ -z "$policy" ]; then
  echo "No policy file ($STACK_DIR/.mlops-policy.yaml or .mlops-policy.yaml): no rules to check."
  exit 0
fi
set +e
mlops policy --policy "$policy" "$STACK_DIR/plan.json" 2>&1 | tee "$RUNNER_TEMP/mlops-policy.txt"
code=${PIPESTATUS[0]}
set -e
{
  echo
  echo "#### Policy \`$policy\`: $([ "$code" -eq 0 ] && echo passed || echo failed)"
  echo
  echo '````text'
  cat "$RUNNER_TEMP/mlops-policy.txt"
  echo '````'
} >> "$GITHUB_STEP_SUMMARY"
exit "$code"
