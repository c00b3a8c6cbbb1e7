// The header button and key (`timeline` binding, Shift+T) that show or hide the
// session timeline strip.
import { useApp, useAppStore } from '../../context';
import { actionFor, keyHint } from '../../lib/keymap';
import { inModal, isTypingTarget, useDocumentKeys } from '../keys';
import { setTimelineShown, useTimelineShown } from './prefs';

export function TimelineToggle() {
  const shown = useTimelineShown();
  const store = useAppStore();
  const keymap = useApp((s) => s.keymap);
  useDocumentKeys((e) => {
    if (e.defaultPrevented || isTypingTarget(e.target) || inModal(e.target) || store.getState().dialog) return;
    if (actionFor('live', e, keymap) !== 'timeline') return;
    e.preventDefault();
    setTimelineShown(!shown);
  });
  const hint = keyHint('timeline', 'live', keymap);
  return (
    <button
      type="button"
      className={`tool-btn${shown ? ' on' : ''}`}
      data-testid="timeline-toggle"
      aria-pressed={shown}
      title={`${shown ? 'Hide' : 'Show'} the session timeline${hint ? ` (${hint})` : ''}`}
      onClick={() => setTimelineShown(!shown)}
    >
      timeline
    </button>
  );
}
