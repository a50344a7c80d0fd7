# One comment per stack and environment on the pull request, created on the first push and
# updated in place on the next ones (GITHUB_TOKEN needs pull-requests: write).
mlops comment --body-file "$BODY_FILE"
