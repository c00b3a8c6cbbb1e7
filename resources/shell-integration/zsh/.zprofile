if [[ -f "$APOLLO_USER_ZDOTDIR/.zprofile" ]]; then
  ZDOTDIR=$APOLLO_USER_ZDOTDIR
  . "$APOLLO_USER_ZDOTDIR/.zprofile"
  ZDOTDIR=$__apollo_zdotdir
fi
