// merge.*: the Merge view's dry run, merges with progress broadcast to every client
// (another window shows the same job) and cancel. merge.pickFolders needs the OS
// dialog: the desktop host registers it (electron/main); elsewhere it is UNAVAILABLE.
import type { ApolloCore } from '../app';
import type { HandlerMap } from '../dispatch';
import { MergeManager } from '../merges';

const managers = new WeakMap<ApolloCore, MergeManager>();

export function mergeManager(core: ApolloCore): MergeManager {
  let m = managers.get(core);
  if (!m) {
    m = new MergeManager({
      sink: (p) => core.broadcast('merge.progress', p),
      signingKey: () => core.signingKey(),
      // As an export of this workspace is redacted: the profiles' keys, from the keychain too.
      secrets: () => core.profiles.secrets(),
    });
    managers.set(core, m);
  }
  return m;
}

export function mergeHandlers(core: ApolloCore): HandlerMap {
  const merges = mergeManager(core);
  return {
    'merge.plan': (a) => merges.plan(a),
    'merge.start': (a) => ({ mergeId: merges.start(a).mergeId }),
    'merge.cancel': ({ mergeId }) => {
      merges.cancel(mergeId);
      return { ok: true as const };
    },
  };
}
