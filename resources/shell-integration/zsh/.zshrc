# Load the user's .zshrc with their ZDOTDIR in place, then keep it: zsh reads
# .zlogin (login shells) from $ZDOTDIR after this file.
ZDOTDIR=$APOLLO_USER_ZDOTDIR
[[ -f "$ZDOTDIR/.zshrc" ]] && . "$ZDOTDIR/.zshrc"
unset __apollo_zdotdir
[[ "$ZDOTDIR" == "$HOME" ]] && unset ZDOTDIR
unset APOLLO_USER_ZDOTDIR

# A rewound terminal gets back the environment recorded at a step (see the bash
# script): re-apply APOLLO_RESTORE_ENV_<NAME> for each name in APOLLO_RESTORE_VARS
# after the user's startup files (absent value: unset).
if [[ -n "${APOLLO_RESTORE_VARS-}" ]]; then
  for __apollo_n in ${=APOLLO_RESTORE_VARS}; do
    __apollo_v=APOLLO_RESTORE_ENV_$__apollo_n
    if (( ${(P)+__apollo_v} )); then export "$__apollo_n=${(P)__apollo_v}"; else unset "$__apollo_n"; fi
    unset "$__apollo_v"
  done
  unset APOLLO_RESTORE_VARS __apollo_n __apollo_v
fi

# Marks, as in the bash script:
#   OSC 133;A prompt start, B prompt end, C command start (preexec),
#   E;<%-encoded command line>;apollo-nonce=<n> the line about to run (preexec, before C),
#   D;<exit>;apollo-nonce=<n> command end (next precmd), OSC 7;file://<host><cwd>,
#   OSC 1337;ApolloEnv;apollo-nonce=<n>;NAME=<%-encoded value>;... allowlisted variables, when changed.
if [[ -z "${__apollo_loaded-}" ]]; then
  __apollo_loaded=1
  __apollo_first_prompt=1

  __apollo_urlencode() {
    emulate -L zsh
    setopt localoptions nomultibyte
    local s=$1 c i
    __apollo_url=
    for (( i = 1; i <= ${#s}; i++ )); do
      c=${s[i]}
      case $c in
        [a-zA-Z0-9/._~-]) __apollo_url+=$c ;;
        *) builtin printf -v c '%%%02X' "'$c"; __apollo_url+=${c: -3} ;;
      esac
    done
  }

  # The exported variables of the allowlist that are set, as one OSC in
  # __apollo_env_seq; empty when nothing changed since the last report.
  __apollo_env_sig=$'\x1e' # matches no real signature: the first prompt reports
  __apollo_env_report() {
    emulate -L zsh
    local __apollo_n __apollo_sig= __apollo_out=
    local __apollo_names="PATH VIRTUAL_ENV CONDA_PREFIX CONDA_DEFAULT_ENV PYTHONPATH ${APOLLO_ENV_VARS-}"
    local -a __apollo_list
    __apollo_names=${__apollo_names//[^A-Za-z0-9_]/ }
    __apollo_list=(${=__apollo_names})
    __apollo_env_seq=
    for __apollo_n in $__apollo_list; do
      [[ $__apollo_n == [0-9]* ]] && continue
      [[ ${(U)__apollo_n} == *(KEY|TOKEN|SECRET|PASSW|CREDENTIAL|PRIVATE|AUTH|COOKIE)* ]] && continue
      (( ${(P)+__apollo_n} )) && [[ ${(Pt)__apollo_n} == *export* ]] && __apollo_sig+="$__apollo_n=${(P)__apollo_n}"$'\x1f'
    done
    [[ $__apollo_sig == "$__apollo_env_sig" ]] && return
    __apollo_env_sig=$__apollo_sig
    for __apollo_n in $__apollo_list; do
      [[ $__apollo_n == [0-9]* ]] && continue
      [[ ${(U)__apollo_n} == *(KEY|TOKEN|SECRET|PASSW|CREDENTIAL|PRIVATE|AUTH|COOKIE)* ]] && continue
      if (( ${(P)+__apollo_n} )) && [[ ${(Pt)__apollo_n} == *export* ]]; then
        __apollo_urlencode "${(P)__apollo_n}"
        __apollo_out+=";$__apollo_n=$__apollo_url"
      fi
    done
    __apollo_env_seq=$'\e]1337;ApolloEnv;apollo-nonce='"$__apollo_nonce$__apollo_out"$'\a'
  }

  # Report how the last command ended, where we are and the environment, in one
  # write (so they arrive together).
  __apollo_precmd() {
    local exit_status=$? __apollo_d=
    if [[ -z "$__apollo_first_prompt" ]]; then
      __apollo_d=$'\e]133;D;'"$exit_status;apollo-nonce=$__apollo_nonce"$'\a'
    fi
    __apollo_first_prompt=
    __apollo_env_report
    __apollo_urlencode "$PWD"
    builtin printf '%s\e]7;file://%s%s\a%s' "$__apollo_d" "${HOST-}" "$__apollo_url" "$__apollo_env_seq"
    return $exit_status
  }

  # Runs after the user's precmd hooks: (re)wrap the prompt with A/B.
  __apollo_wrap_prompt() {
    if [[ "$PS1" != *'133;B'* ]]; then
      PS1=$'%{\e]133;A\a%}'"$PS1"$'%{\e]133;B\a%}'
    fi
  }

  # $1 is the command line as typed. The bytes that would end or break the OSC are
  # %-encoded, with the % itself.
  __apollo_preexec() {
    emulate -L zsh
    local l=$1
    if (( ${#l} <= 32768 )); then
      l=${l//\%/%25}; l=${l//;/%3B}; l=${l//$'\n'/%0A}; l=${l//$'\r'/%0D}
      l=${l//$'\a'/%07}; l=${l//$'\e'/%1B}; l=${l//$'\x18'/%18}; l=${l//$'\x1a'/%1A}
      builtin printf '\e]133;E;%s;apollo-nonce=%s\a' "$l" "$__apollo_nonce"
    fi
    builtin printf '\e]133;C\a'
  }

  precmd_functions=(__apollo_precmd ${precmd_functions[@]} __apollo_wrap_prompt)
  preexec_functions+=(__apollo_preexec)
fi
