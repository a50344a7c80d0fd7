# plan.json is the plan's JSON document, for tools that review plans without mlops.
mlops --chdir "$STACK_DIR" ${STACK_ENV:+--env "$STACK_ENV"} show --json plan.bin > "$STACK_DIR/plan.json"
