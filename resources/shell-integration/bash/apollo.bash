# Apollo Workstation shell integration for bash (loaded with `bash --rcfile <this>`).
# It first loads the user's own startup files, then adds marks to the output:
#   OSC 133;A  prompt start          OSC 133;B  prompt end (input starts)
#   OSC 133;C  command start (PS0)   OSC 133;D;<exit>;apollo-nonce=<n>  command end (next prompt)
#   OSC 133;E;<%-encoded command line>;apollo-nonce=<n>   the line about to run, right before C
#   OSC 7;file://<host><cwd>         the shell's working directory
#   OSC 1337;ApolloEnv;apollo-nonce=<n>;NAME=<%-encoded value>;...   a few environment variables
#     (PATH VIRTUAL_ENV CONDA_PREFIX CONDA_DEFAULT_ENV PYTHONPATH and the names in
#     $APOLLO_ENV_VARS; never one whose name looks secret), when they changed
# The marks are invisible in a terminal; Apollo reads them to find command
# boundaries and exit codes without guessing at prompts.

# Apollo's secret for this terminal, put in the command-end and environment marks so
# that the same bytes in a program's output are not taken for them. Read before any
# startup file runs, and kept out of the environment of everything started here.
__apollo_nonce=${APOLLO_MARK_NONCE-}
unset APOLLO_MARK_NONCE

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

# A rewound terminal gets back the environment recorded at a step. Apollo sets the
# values already, but startup files may have reset them (PATH), so apply them again:
# APOLLO_RESTORE_VARS lists the names, APOLLO_RESTORE_ENV_<NAME> holds each value
# (absent: unset the variable).
if [ -n "${APOLLO_RESTORE_VARS-}" ]; then
  for __apollo_n in $APOLLO_RESTORE_VARS; do
    __apollo_v=APOLLO_RESTORE_ENV_$__apollo_n
    if [ -n "${!__apollo_v+x}" ]; then export "$__apollo_n=${!__apollo_v}"; else unset "$__apollo_n"; fi
    unset "$__apollo_v"
  done
  unset APOLLO_RESTORE_VARS __apollo_n __apollo_v
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

  # The exported variables of the allowlist that are set, as one OSC in
  # __apollo_env_seq; empty when nothing changed since the last report.
  __apollo_env_sig=$'\x1e' # matches no real signature: the first prompt reports
  __apollo_env_report() {
    local __apollo_n __apollo_sig= __apollo_out= IFS=$' \t\n'
    local __apollo_names="PATH VIRTUAL_ENV CONDA_PREFIX CONDA_DEFAULT_ENV PYTHONPATH ${APOLLO_ENV_VARS-}"
    __apollo_names=${__apollo_names//[^A-Za-z0-9_]/ }
    __apollo_env_seq=
    for __apollo_n in $__apollo_names; do
      case $__apollo_n in [0-9]*) continue ;; esac
      case ${__apollo_n^^} in *KEY*|*TOKEN*|*SECRET*|*PASSW*|*CREDENTIAL*|*PRIVATE*|*AUTH*|*COOKIE*) continue ;; esac
      [[ -n ${!__apollo_n+x} && ${!__apollo_n@a} == *x* ]] && __apollo_sig+="$__apollo_n=${!__apollo_n}"$'\x1f'
    done
    [[ $__apollo_sig == "$__apollo_env_sig" ]] && return
    __apollo_env_sig=$__apollo_sig
    for __apollo_n in $__apollo_names; do
      case $__apollo_n in [0-9]*) continue ;; esac
      case ${__apollo_n^^} in *KEY*|*TOKEN*|*SECRET*|*PASSW*|*CREDENTIAL*|*PRIVATE*|*AUTH*|*COOKIE*) continue ;; esac
      if [[ -n ${!__apollo_n+x} && ${!__apollo_n@a} == *x* ]]; then
        __apollo_urlencode "${!__apollo_n}"
        __apollo_out+=";$__apollo_n=$__apollo_url"
      fi
    done
    __apollo_env_seq=$'\e]1337;ApolloEnv;apollo-nonce='"$__apollo_nonce$__apollo_out"$'\a'
  }

  # The command line about to run, as OSC 133;E (PS0 runs in a subshell after bash
  # saved the line to its history). Only a line that was saved (HISTCMD moved since
  # the prompt) is reported: one kept out of the history (HISTCONTROL, set +o
  # history) reports nothing rather than the previous line. The bytes that would end
  # or break the OSC are %-encoded, with the % itself.
  __apollo_cmdline() {
    (( HISTCMD > __apollo_hc )) || return 0
    local l
    unset HISTTIMEFORMAT
    l=$(builtin history 1) || return 0
    # "%5d%c %s": the number, a modified-entry flag, a space, the line.
    l=${l#"${l%%[! ]*}"}
    l=${l#"${l%%[!0-9]*}"}
    l=${l:2}
    (( ${#l} <= 32768 )) || return 0
    l=${l//\%/%25}; l=${l//;/%3B}; l=${l//$'\n'/%0A}; l=${l//$'\r'/%0D}
    l=${l//$'\a'/%07}; l=${l//$'\e'/%1B}; l=${l//$'\x18'/%18}; l=${l//$'\x1a'/%1A}
    printf '\e]133;E;%s;apollo-nonce=%s\a' "$l" "$__apollo_nonce"
  }

  # First in PROMPT_COMMAND: report how the last command ended, where we are and
  # the environment, in one write (so they arrive together).
  __apollo_prompt_start() {
    local status=$? __apollo_d=
    __apollo_hc=$HISTCMD
    if [ -z "$__apollo_first_prompt" ]; then
      __apollo_d=$'\e]133;D;'"$status;apollo-nonce=$__apollo_nonce"$'\a'
    fi
    __apollo_first_prompt=
    __apollo_env_report
    __apollo_urlencode "$PWD"
    printf '%s\e]7;file://%s%s\a%s' "$__apollo_d" "${HOSTNAME-}" "$__apollo_url" "$__apollo_env_seq"
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
  # PS0 is printed as is: no \[ \] here. The command line needs promptvars ($(...)).
  if shopt -q promptvars; then
    __apollo_hc=$HISTCMD
    PS0='$(__apollo_cmdline)\e]133;C\a'"${PS0-}"
  else
    PS0='\e]133;C\a'"${PS0-}"
  fi
  # A multi-line command pasted as one block runs as one command line (one D mark).
  bind 'set enable-bracketed-paste on' 2>/dev/null
fi
