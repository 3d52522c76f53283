# kiln code-interpreter runner for bash (see src/envd/include/kiln/envd/code_context.h). Runs as
# `bash -c <this>`. Requests on fd 3: "<token> <code bytes> <env bytes>\n<code><KEY=VALUE lines>"; the cell
# is eval'ed in this shell (so variables, functions and cwd persist), its output goes straight to fds 1/2,
# then the end marker goes to both and a {"type":"done"} frame to fd 4. SIGINT is ignored while idle and
# interrupts the running command (the rest of the cell goes on, as in an interactive shell).
exec 0</dev/null
while true; do
  trap '' INT
  IFS=' ' read -r __kiln_tok __kiln_n __kiln_m <&3 || exit 0
  __kiln_code=""
  __kiln_env=""
  if [ "$__kiln_n" -gt 0 ]; then LC_ALL=C IFS= read -r -d '' -N "$__kiln_n" __kiln_code <&3; fi
  if [ "$__kiln_m" -gt 0 ]; then LC_ALL=C IFS= read -r -d '' -N "$__kiln_m" __kiln_env <&3; fi
  __kiln_saved=()
  while IFS= read -r __kiln_kv; do
    [ -z "$__kiln_kv" ] && continue
    __kiln_k=${__kiln_kv%%=*}
    if [ -n "${!__kiln_k+x}" ]; then
      __kiln_saved+=("export ${__kiln_k}=$(printf %q "${!__kiln_k}")")
    else
      __kiln_saved+=("unset ${__kiln_k}")
    fi
    export "$__kiln_kv"
  done <<< "$__kiln_env"
  trap 'true' INT
  eval "$__kiln_code"
  trap '' INT
  for __kiln_s in "${__kiln_saved[@]}"; do eval "$__kiln_s"; done
  printf '\036KILN:%s\036' "$__kiln_tok"
  printf '\036KILN:%s\036' "$__kiln_tok" >&2
  printf '\000\000\000\017{"type":"done"}' >&4
done
