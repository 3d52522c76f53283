# kiln code-interpreter runner for bash (see src/envd/include/kiln/envd/code_context.h). Runs as
# `bash -c <this>`. Requests on fd 3: "<token> <code bytes> <env bytes>\n<code><KEY=VALUE lines>"; the cell
# is eval'ed in this shell (so variables, functions and cwd persist), its output goes straight to fds 1/2,
# then the end marker goes to both and a {"type":"done"} frame to fd 4.
#
# Interrupts: envd sends SIGINT to the runner's process group, which kills the foreground command. A
# non-interactive bash with an INT trap would then go on with the rest of the cell (the next loop
# iteration, the next line), so the trap stops the whole cell instead: it turns on extdebug and a DEBUG
# trap that, before every further command, simulates `return` (status 2) out of every function up to
# __kiln_cell, which runs the cell. The shell itself, its variables and cwd survive; background jobs (`&`)
# ignore SIGINT, as in any non-interactive shell, and keep running. SIGINT is ignored while idle.
exec 0</dev/null
__kiln_interrupted=

# The DEBUG trap after an interrupt: unwind every function call inside __kiln_cell, and it.
__kiln_unwind() {
  [ -n "$__kiln_interrupted" ] && [[ " ${FUNCNAME[*]:1} " == *" __kiln_cell "* ]] && return 2
  return 0
}

__kiln_on_int() {
  __kiln_interrupted=1
  shopt -s extdebug
  trap __kiln_unwind DEBUG
}

__kiln_cell() {
  eval "$1"
}

# Writes one event frame (a JSON text shorter than 256 bytes) to fd 4.
__kiln_event() {
  printf "\\000\\000\\000\\$(printf %03o "${#1}")%s" "$1" >&4
}

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
  __kiln_interrupted=
  trap __kiln_on_int INT
  __kiln_cell "$__kiln_code"
  trap '' INT
  trap - DEBUG
  shopt -u extdebug
  for __kiln_s in "${__kiln_saved[@]}"; do eval "$__kiln_s"; done
  if [ -n "$__kiln_interrupted" ]; then
    __kiln_event '{"type":"error","name":"KeyboardInterrupt","value":"the cell was interrupted (SIGINT)","traceback":""}'
  fi
  printf '\036KILN:%s\036' "$__kiln_tok"
  printf '\036KILN:%s\036' "$__kiln_tok" >&2
  printf '\000\000\000\017{"type":"done"}' >&4
done
