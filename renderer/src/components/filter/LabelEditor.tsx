// Reason tags and note for the selected actions (t / n). Digits 1–6 toggle tags,
// k / m choose the label, Enter (Ctrl+Enter in the note) saves, Esc cancels.
import { useLayoutEffect, useRef, useState } from 'react';
import { LABEL_TAGS, type LabelTag, type LabelValue } from '../../../../shared/events';
import { Dialog } from '../Dialog';

export interface LabelEditorInit {
  count: number;
  label: LabelValue;
  tags: LabelTag[];
  note: string;
  focus: 'tags' | 'note';
  /** The actions it edits, fixed when it opens. */
  stepIds: string[];
}

export function LabelEditor({ init, onSave, onClose }: { init: LabelEditorInit; onSave(label: LabelValue, tags: LabelTag[], note: string): void; onClose(): void }) {
  const [label, setLabel] = useState<LabelValue>(init.label);
  const [tags, setTags] = useState<LabelTag[]>(init.tags);
  const [note, setNote] = useState(init.note);
  const noteRef = useRef<HTMLTextAreaElement>(null);
  const tagsRef = useRef<HTMLDivElement>(null);

  // Before the first paint, as Dialog's own focus: the keys typed as it appears are its.
  useLayoutEffect(() => {
    if (init.focus === 'note') {
      const el = noteRef.current;
      el?.focus();
      el?.setSelectionRange(el.value.length, el.value.length);
    } else tagsRef.current?.focus();
  }, [init.focus]);

  const toggle = (t: LabelTag) => setTags((cur) => (cur.includes(t) ? cur.filter((x) => x !== t) : LABEL_TAGS.filter((x) => x === t || cur.includes(x))));
  const save = () => onSave(label, tags, note.trim());

  return (
    <Dialog
      title={`Tags and note${init.count > 1 ? ` — ${init.count} actions` : ''}`}
      testId="label-editor"
      width={460}
      onClose={onClose}
      footer={
        <>
          <button type="button" className="btn" onClick={onClose}>
            Cancel
          </button>
          <button type="button" className="btn primary" data-testid="label-editor-save" onClick={save}>
            Save
          </button>
        </>
      }
    >
      <div
        ref={tagsRef}
        className="le-keys"
        tabIndex={-1}
        onKeyDown={(e) => {
          if (e.target instanceof HTMLTextAreaElement) {
            if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) {
              e.preventDefault();
              save();
            }
            return;
          }
          const i = Number(e.key);
          if (Number.isInteger(i) && i >= 1 && i <= LABEL_TAGS.length) {
            e.preventDefault();
            toggle(LABEL_TAGS[i - 1]!);
          } else if (e.key === 'k' || e.key === 'm') {
            e.preventDefault();
            setLabel(e.key === 'k' ? 'keep' : 'mask');
          } else if (e.key === 'n') {
            e.preventDefault();
            noteRef.current?.focus();
          } else if (e.key === 'Enter') {
            e.preventDefault();
            save();
          }
        }}
      >
        <div className="segmented small" role="radiogroup" aria-label="Label">
          <button type="button" role="radio" aria-checked={label === 'keep'} className={label === 'keep' ? 'on' : ''} data-testid="le-keep" onClick={() => setLabel('keep')}>
            keep <kbd>k</kbd>
          </button>
          <button type="button" role="radio" aria-checked={label === 'mask'} className={label === 'mask' ? 'on' : ''} data-testid="le-mask" onClick={() => setLabel('mask')}>
            mask <kbd>m</kbd>
          </button>
        </div>
        <div className="le-tags" role="group" aria-label="Reason tags">
          {LABEL_TAGS.map((t, i) => (
            <button
              key={t}
              type="button"
              className={`le-tag${tags.includes(t) ? ' on' : ''}`}
              data-testid={`tag-${t}`}
              aria-pressed={tags.includes(t)}
              onClick={() => toggle(t)}
            >
              <kbd>{i + 1}</kbd> {t}
            </button>
          ))}
        </div>
        <label className="field">
          <span className="field-label">
            Note <span className="optional">Ctrl+Enter saves</span>
          </span>
          <textarea ref={noteRef} rows={3} data-testid="label-note" value={note} maxLength={10_000} onChange={(e) => setNote(e.target.value)} />
        </label>
      </div>
    </Dialog>
  );
}
