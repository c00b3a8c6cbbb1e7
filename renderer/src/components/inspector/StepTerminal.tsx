// A step's terminal output, replayed from the recording into a read-only xterm:
// either just the bytes its commands produced, or the screen as it stood when the
// step ended (terminal.screen: the host's keyframe at or before that byte plus a
// bounded replay, so a full-screen program drawn long before shows as it was), drawn
// at the size the terminal had then.
import { useEffect, useRef, useState } from 'react';
import { Terminal } from '@xterm/xterm';
import { FitAddon } from '@xterm/addon-fit';
import type { Step } from '../../../../shared/trajectory';
import { useTransport } from '../../context';
import { describeError } from '../../lib/errors';
import { formatBytes } from '../../lib/format';
import { stepRange } from '../../lib/trajectoryView';
import { TERMINAL_OPTIONS } from '../terminalTheme';

/** Most bytes painted for one step (older output is in the recording). */
const MAX_STEP_BYTES = 2 * 1024 * 1024;

type Mode = 'output' | 'screen';

export function StepTerminal({ sessionId, step, loading = false }: { sessionId: string; step: Step; loading?: boolean }) {
  const transport = useTransport();
  const hostRef = useRef<HTMLDivElement>(null);
  const termRef = useRef<Terminal | null>(null);
  const fitRef = useRef<FitAddon | null>(null);
  const [mode, setMode] = useState<Mode>('output');
  // A screen keeps the size it was recorded at; step output follows the pane.
  const modeRef = useRef<Mode>(mode);
  modeRef.current = mode;
  const [status, setStatus] = useState<{ text: string; error?: boolean } | null>(null);
  const range = stepRange(step);
  const key = range ? `${range.terminalId}:${range.start}:${range.end}:${mode}` : null;

  useEffect(() => {
    const host = hostRef.current;
    if (!host) return;
    const term = new Terminal({ ...TERMINAL_OPTIONS, disableStdin: true, cursorBlink: false, cursorStyle: 'underline', scrollback: 20_000 });
    const fit = new FitAddon();
    term.loadAddon(fit);
    term.open(host);
    termRef.current = term;
    fitRef.current = fit;
    const ro = new ResizeObserver(() => {
      if (modeRef.current === 'screen') return;
      try {
        const d = fit.proposeDimensions();
        if (d && d.cols >= 2 && d.rows >= 1) fit.fit();
      } catch {
        /* not laid out */
      }
    });
    ro.observe(host);
    return () => {
      ro.disconnect();
      term.dispose();
      termRef.current = null;
    };
  }, []);

  useEffect(() => {
    const term = termRef.current;
    if (!term) return;
    term.reset();
    if (!range) {
      setStatus(null);
      return;
    }
    let cancelled = false;
    const end = range.end;
    if (mode === 'screen') {
      setStatus({ text: 'Loading…' });
      transport
        .request('terminal.screen', { sessionId, terminalId: range.terminalId, offset: end })
        .then((r) => {
          if (cancelled) return;
          term.resize(r.cols, r.rows);
          term.write(r.data);
          setStatus({ text: `${range.terminalId} · screen at byte ${r.offset.toLocaleString()} · ${r.cols}×${r.rows} · keyframe + ${formatBytes(r.replayedBytes)} replayed` });
        })
        .catch((err) => {
          if (!cancelled) setStatus({ text: `Could not read the recording: ${describeError(err).message}`, error: true });
        });
      return () => {
        cancelled = true;
      };
    }
    try {
      fitRef.current?.fit();
    } catch {
      /* not laid out */
    }
    const want = range.start;
    const start = Math.max(want, end - MAX_STEP_BYTES);
    setStatus({ text: 'Loading…' });
    transport
      .request('terminal.read', { sessionId, terminalId: range.terminalId, start, end })
      .then((r) => {
        if (cancelled) return;
        term.write(r.data);
        const cut = start > want ? ` (the first ${formatBytes(start - want)} are not shown)` : '';
        // A read-back prints nothing: what it read was earlier steps' output, and is in its observation.
        const readBack = r.end === r.start && step.results.length > 0 && step.results.every((x) => x.name === 'get_session_output') ? ' · it read earlier output back: see its observation' : '';
        setStatus({ text: `${range.terminalId} · bytes ${start.toLocaleString()}–${r.end.toLocaleString()} · ${formatBytes(r.end - r.start)}${cut}${readBack}` });
      })
      .catch((err) => {
        if (!cancelled) setStatus({ text: `Could not read the recording: ${describeError(err).message}`, error: true });
      });
    return () => {
      cancelled = true;
    };
    // `key` captures the range and the mode.
  }, [key, transport, sessionId]);

  return (
    <div className="step-terminal" data-testid="step-terminal" data-terminal-id={range?.terminalId}>
      <div className="st-bar">
        <div className="segmented small" role="radiogroup" aria-label="What to show">
          <button type="button" role="radio" aria-checked={mode === 'output'} className={mode === 'output' ? 'on' : ''} data-testid="step-terminal-output" onClick={() => setMode('output')}>
            Step output
          </button>
          <button type="button" role="radio" aria-checked={mode === 'screen'} className={mode === 'screen' ? 'on' : ''} data-testid="step-terminal-screen" onClick={() => setMode('screen')}>
            Screen after the step
          </button>
        </div>
        <span className={`st-status${status?.error ? ' err-text' : ''}`} data-testid="step-terminal-status">
          {range ? status?.text : loading ? 'Loading this step\'s details…' : `No terminal output recorded for this step${step.results.length ? ` (${step.results.map((r) => r.name || 'no tool').join(', ')})` : step.finishedAt ? '' : ' yet'}.`}
        </span>
      </div>
      <div className="st-frame">
        <div ref={hostRef} className="st-host" />
      </div>
    </div>
  );
}
