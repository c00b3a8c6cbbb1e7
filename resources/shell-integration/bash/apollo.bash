# Apollo Workstation shell integration for bash (loaded with `bash --rcfile <this>`).
# It first loads the user's own startup files, then adds marks to the output:
#   OSC 133;A  prompt start          OSC 133;B  prompt end (input starts)
#   OSC 133;C  command start (PS0)   OSC 133;D;<exit>  command end (next prompt)
#   OSC 7;file://<host><cwd>         the shell's working directory
# The marks are invisible in a terminal; Apollo reads them to find command
# boundaries and exit codes without guessing at prompts.

# --rcfile replaces ~/.bashrc, so load what bash would have loaded.
if [ -n "${APOLLO_SHELL_LOGIN-}" ]; then
  unset APOLLO_SHELL_LOGIN
  # A login shell was asked for (the user's default shell): emulate `bash -l`.
  [ -r /etc/profile ] && . /etc/profile
  if [ -r "$HOME/.bash_profile" ]; then . "$HOME/.bash_profile"
  elif [ -r "$HOME/.bash_login" ]; then . "$HOME/.bash_login"
  elif [ -r "$HOME/.profile" ]; then . "$HOME/.profile"
  fi
else
  [ -r /etc/bash.bashrc ] && . /etc/bash.bashrc
  [ -r "$HOME/.bashrc" ] && . "$HOME/.bashrc"
fi

# PS0 needs bash 4.4; without it there are no marks and Apollo falls back to
# waiting for output to go quiet.
if [ -z "${__apollo_loaded-}" ] && [ "${BASH_VERSINFO[0]}" -gt 4 -o \( "${BASH_VERSINFO[0]}" -eq 4 -a "${BASH_VERSINFO[1]}" -ge 4 \) ]; then
  __apollo_loaded=1
  __apollo_first_prompt=1

  # Percent-encode $1 byte by byte into __apollo_url (no subshell per prompt).
  __apollo_urlencode() {
    local s=$1 c i LC_ALL=C
    __apollo_url=
    for (( i = 0; i < ${#s}; i++ )); do
      c=${s:i:1}
      case $c in
        [a-zA-Z0-9/._~-]) __apollo_url+=$c ;;
        *) printf -v c '%%%02X' "'$c"; __apollo_url+=${c: -3} ;;
      esac
    done
  }

  # First in PROMPT_COMMAND: report how the last command ended and where we are.
  __apollo_prompt_start() {
    local status=$?
    if [ -z "$__apollo_first_prompt" ]; then
      printf '\e]133;D;%s\a' "$status"
    fi
    __apollo_first_prompt=
    __apollo_urlencode "$PWD"
    printf '\e]7;file://%s%s\a' "${HOSTNAME-}" "$__apollo_url"
    return $status # later PROMPT_COMMAND entries still see the real status
  }

  # Last in PROMPT_COMMAND: (re)wrap PS1 with A/B, also when the user's prompt
  # code rebuilt PS1 from scratch.
  __apollo_prompt_end() {
    local status=$?
    case $PS1 in
      *'133;B'*) ;;
      *) PS1='\[\e]133;A\a\]'"$PS1"'\[\e]133;B\a\]' ;;
    esac
    return $status
  }

  if [[ "$(declare -p PROMPT_COMMAND 2>/dev/null)" == "declare -a"* ]]; then
    PROMPT_COMMAND=(__apollo_prompt_start "${PROMPT_COMMAND[@]}" __apollo_prompt_end)
  else
    PROMPT_COMMAND=$'__apollo_prompt_start\n'"${PROMPT_COMMAND-}"$'\n__apollo_prompt_end'
  fi
  PS0='\e]133;C\a'"${PS0-}"  # PS0 is printed as is: no \[ \] here
  # A multi-line command pasted as one block runs as one command line (one D mark).
  bind 'set enable-bracketed-paste on' 2>/dev/null
fi
