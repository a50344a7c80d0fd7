# Each variable this stack environment needs from outside (declared without a default and not
# set by the environment in the stack file) arrives from a GitHub variable or secret as
# MLOPS_INPUT_<name>, and is exported as MLOPS_VAR_<name> for this matrix entry only: set for
# another environment, it would override the value the stack file gives it there. A GitHub
# variable that is not set arrives empty, which mlops would take for a value: name it instead.
for name in ${MLOPS_REQUIRED_VARS:-}; do
  value=$(printenv "MLOPS_INPUT_$name" || true)
  if [ -z "$value" ]; then
    setting="MLOPS_VAR_$(printf '%s' "$name" | tr 'a-z-' 'A-Z_')"
    echo "::error::stack variable $name has no value: set $setting in the repository's or the environment's variables (secrets, for a sensitive one)"
    exit 1
  fi
  delimiter="mlops_$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')"
  {
    echo "MLOPS_VAR_$name<<$delimiter"
    printf '%s\n' "$value"
    echo "$delimiter"
  } >> "$GITHUB_ENV"
done
