# Apollo Workstation shell integration for zsh. Apollo starts zsh with ZDOTDIR
# pointing here and the user's own ZDOTDIR (or $HOME) in APOLLO_USER_ZDOTDIR; each
# file here loads the user's file of the same name, then .zshrc adds the marks
# and hands ZDOTDIR back (so the user's .zlogin is read from their own folder).

# Apollo's secret for this terminal (see the bash script), read before any startup
# file runs and kept out of the environment of everything started here.
__apollo_nonce=${APOLLO_MARK_NONCE-}
unset APOLLO_MARK_NONCE

__apollo_zdotdir=$ZDOTDIR
if [[ -f "$APOLLO_USER_ZDOTDIR/.zshenv" ]]; then
  ZDOTDIR=$APOLLO_USER_ZDOTDIR
  . "$APOLLO_USER_ZDOTDIR/.zshenv"
  # The user's .zshenv may move ZDOTDIR (e.g. to ~/.config/zsh).
  APOLLO_USER_ZDOTDIR=$ZDOTDIR
  ZDOTDIR=$__apollo_zdotdir
fi
