mlops --chdir "$STACK_DIR" ${STACK_ENV:+--env "$STACK_ENV"} validate
