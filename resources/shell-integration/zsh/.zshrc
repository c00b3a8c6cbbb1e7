# Load the user's .zshrc with their ZDOTDIR in place, then keep it: zsh reads
# .zlogin (login shells) from $ZDOTDIR after this file.
ZDOTDIR=$APOLLO_USER_ZDOTDIR
[[ -f "$ZDOTDIR/.zshrc" ]] && . "$ZDOTDIR/.zshrc"
unset __apollo_zdotdir
[[ "$ZDOTDIR" == "$HOME" ]] && unset ZDOTDIR
unset APOLLO_USER_ZDOTDIR

# Marks, as in the bash script:
#   OSC 133;A prompt start, B prompt end, C command start (preexec),
#   D;<exit> command end (next precmd), OSC 7;file://<host><cwd>.
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

  __apollo_precmd() {
    local exit_status=$?
    if [[ -z "$__apollo_first_prompt" ]]; then
      builtin printf '\e]133;D;%s\a' "$exit_status"
    fi
    __apollo_first_prompt=
    __apollo_urlencode "$PWD"
    builtin printf '\e]7;file://%s%s\a' "${HOST-}" "$__apollo_url"
    return $exit_status
  }

  # Runs after the user's precmd hooks: (re)wrap the prompt with A/B.
  __apollo_wrap_prompt() {
    if [[ "$PS1" != *'133;B'* ]]; then
      PS1=$'%{\e]133;A\a%}'"$PS1"$'%{\e]133;B\a%}'
    fi
  }

  __apollo_preexec() {
    builtin printf '\e]133;C\a'
  }

  precmd_functions=(__apollo_precmd ${precmd_functions[@]} __apollo_wrap_prompt)
  preexec_functions+=(__apollo_preexec)
fi
