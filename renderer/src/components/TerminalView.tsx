// One live (or recorded) terminal: xterm.js fed by `terminal.attach` (replay) and then
// `terminal.data` pushes, acknowledged for flow control once xterm has parsed them
// (see lib/terminalStream.ts). Only while it is on screen: a hidden tab (or a page in
// the background) detaches, so its output costs this page nothing and never holds the
// shell back; shown again, it attaches and replays what it missed from the recording.
import { useEffect, useRef, useState } from 'react';
import { Terminal } from '@xterm/xterm';
import { FitAddon } from '@xterm/addon-fit';
import type { TerminalInfo } from '../../../shared/types';
import { useApp, useTransport } from '../context';
import { copyText, readText } from '../lib/clipboard';
import { describeError } from '../lib/errors';
import { usePageVisible } from '../lib/pageVisible';
import { useAfterFirstPaint } from '../lib/afterPaint';
import { TerminalStream, type ScreenPosition } from '../lib/terminalStream';
import { TERMINAL_OPTIONS } from './terminalTheme';
import { keysRefused, TerminalControlBanner, useTerminalLock } from './TerminalControl';

const RESIZE_DEBOUNCE_MS = 80;
const COPY_ON_SELECT_DELAY_MS = 120;

interface Props {
  sessionId: string;
  info: TerminalInfo;
  live: boolean;
  visible: boolean;
}

export function TerminalView({ sessionId, info, live, visible }: Props) {
  const transport = useTransport();
  const reportError = useApp((s) => s.reportError);
  const pushToast = useApp((s) => s.pushToast);
  const hostRef = useRef<HTMLDivElement>(null);
  const termRef = useRef<Terminal | null>(null);
  const fitRef = useRef<FitAddon | null>(null);
  /** Where this screen stands in the recording, across re-attachments. */
  const screenRef = useRef<ScreenPosition>({ end: null });
  const [replayNote, setReplayNote] = useState<string | null>(null);
  const [attachError, setAttachError] = useState<string | null>(null);
  /** Why keys just typed were not sent (the agent drives this terminal). */
  const [refused, setRefused] = useState<string | null>(null);
  const lock = useTerminalLock(sessionId, info.id);
  const pageVisible = usePageVisible();
  const onScreen = visible && pageVisible;
  // Opening a session paints its steps first; the terminal follows once the page is
  // idle after that. A tab never shown has no xterm at all (each costs ~100 ms to make
  // and fit): a session with many terminals opens at the cost of the one on screen.
  const painted = useAfterFirstPaint(1, { idle: true });
  const [shown, setShown] = useState(visible);
  if (visible && !shown) setShown(true);
  const ready = painted && shown;

  // What the input/resize paths may do right now; read from callbacks set up once.
  const canWrite = live && (info.status === 'running' || info.status === 'starting');
  // `cols`/`rows`: the size the pty has (as far as we know).
  const stateRef = useRef({ canWrite, cols: info.cols, rows: info.rows, bytes: info.bytes, refuseKeys: keysRefused(lock) });
  stateRef.current.canWrite = canWrite;
  stateRef.current.refuseKeys = keysRefused(lock);
  stateRef.current.bytes = info.bytes;
  const syncSizeRef = useRef<() => void>(() => {});

  const terminalId = info.id;
  // A new process behind the same terminal id (an exited or recorded terminal started
  // again; its recording continues) streams only to those that attach to it: attach
  // again, keeping what the screen shows.
  const generation = info.pid ?? 0;

  // ---- the screen, input, size and clipboard: one xterm per terminal ----
  useEffect(() => {
    const host = hostRef.current;
    if (!host || !ready) return;
    const term = new Terminal({ ...TERMINAL_OPTIONS, disableStdin: !stateRef.current.canWrite });
    const fit = new FitAddon();
    term.loadAddon(fit);
    term.open(host);
    termRef.current = term;
    fitRef.current = fit;
    screenRef.current = { end: null };
    safeFit(fit);

    const ids = { sessionId, terminalId };

    // ---- input ----
    let lastInputErrorAt = 0;
    const send = (data: string) => {
      if (!stateRef.current.canWrite) return;
      // The agent's keys and ours would mix into one command line: ours stay here.
      if (stateRef.current.refuseKeys) {
        setRefused('Keys not sent: take control first.');
        return;
      }
      transport.request('terminal.input', { ...ids, data }).catch((err) => {
        const e = describeError(err);
        // The agent took the terminal between our status and the host's (a race): say it where the keys went.
        if (e.code === 'CONFLICT') {
          setRefused(e.message);
          return;
        }
        const now = Date.now();
        if (now - lastInputErrorAt > 5000) reportError(`Input to “${terminalId}” was not delivered`, err);
        lastInputErrorAt = now;
      });
    };
    const subs = [term.onData(send), term.onBinary(send)];

    // ---- size: follow the pane, tell the pty ----
    let resizeTimer: ReturnType<typeof setTimeout> | null = null;
    const pushSize = () => {
      resizeTimer = null;
      const st = stateRef.current;
      if (!st.canWrite || (term.cols === st.cols && term.rows === st.rows)) return;
      st.cols = term.cols;
      st.rows = term.rows;
      transport.request('terminal.resize', { ...ids, cols: term.cols, rows: term.rows }).catch(() => {
        st.cols = st.rows = 0; // retry on the next resize
      });
    };
    const scheduleSize = () => {
      if (resizeTimer) clearTimeout(resizeTimer);
      resizeTimer = setTimeout(pushSize, RESIZE_DEBOUNCE_MS);
    };
    subs.push(term.onResize(scheduleSize));
    syncSizeRef.current = scheduleSize;
    scheduleSize(); // the pty may have started at another size
    let raf = 0;
    const ro = new ResizeObserver(() => {
      cancelAnimationFrame(raf);
      raf = requestAnimationFrame(() => safeFit(fit));
    });
    ro.observe(host);

    // ---- clipboard: copy on select, Ctrl+Shift+C / Ctrl+Shift+V, right-click paste ----
    let copyTimer: ReturnType<typeof setTimeout> | null = null;
    subs.push(
      term.onSelectionChange(() => {
        if (copyTimer) clearTimeout(copyTimer);
        copyTimer = setTimeout(() => {
          if (term.hasSelection()) void copyText(term.getSelection());
        }, COPY_ON_SELECT_DELAY_MS);
      }),
    );
    term.attachCustomKeyEventHandler((ev) => {
      if (!ev.ctrlKey || !ev.shiftKey || ev.altKey || ev.metaKey) return true;
      if (ev.code === 'KeyC') {
        // keydown and keyup both stay away from the shell (Ctrl+Shift+C is not ^C).
        ev.preventDefault();
        if (ev.type === 'keydown' && term.hasSelection()) {
          void copyText(term.getSelection()).then((ok) => {
            if (!ok) pushToast({ level: 'warning', message: 'Could not copy to the clipboard: the browser refused it.' });
          });
        }
        return false;
      }
      // Let the browser deliver a native paste event, which xterm turns into input
      // (bracketed when the program asked for it). No clipboard permission needed.
      if (ev.code === 'KeyV') return false;
      return true;
    });
    const onContextMenu = async (ev: MouseEvent) => {
      ev.preventDefault();
      if (!stateRef.current.canWrite) return;
      const text = await readText();
      if (text === null) {
        pushToast({ level: 'info', message: 'The browser does not allow reading the clipboard here: paste with Ctrl+Shift+V.' });
        return;
      }
      if (text) term.paste(text);
      term.focus();
    };
    host.addEventListener('contextmenu', onContextMenu);

    return () => {
      for (const s of subs) s.dispose();
      ro.disconnect();
      cancelAnimationFrame(raf);
      if (resizeTimer) clearTimeout(resizeTimer);
      syncSizeRef.current = () => {};
      if (copyTimer) clearTimeout(copyTimer);
      host.removeEventListener('contextmenu', onContextMenu);
      term.dispose();
      termRef.current = null;
      fitRef.current = null;
    };
    // Re-created only for another terminal; status changes are handled below.
  }, [transport, sessionId, terminalId, reportError, pushToast, ready]);

  // ---- output: attach (replay, then live chunks) while on screen; again for each new process ----
  useEffect(() => {
    const term = termRef.current;
    if (!term || !onScreen) return;
    const ids = { sessionId, terminalId };
    setAttachError(null);
    const stream = new TerminalStream(
      transport,
      ids,
      { write: (data, onParsed) => writeSliced(term, data, onParsed), note: setReplayNote },
      screenRef.current,
      stateRef.current.bytes,
      (err) => setAttachError(describeError(err).message),
    );
    return () => stream.dispose();
  }, [transport, sessionId, terminalId, generation, onScreen, ready]);

  // Input allowed or not follows the status (exited, recorded…). When a terminal
  // (re)starts, the pty has the host's size: bring it to the pane's.
  useEffect(() => {
    const term = termRef.current;
    if (!term) return;
    term.options.disableStdin = !canWrite;
    stateRef.current.cols = info.cols;
    stateRef.current.rows = info.rows;
    syncSizeRef.current();
  }, [canWrite, info.cols, info.rows, ready]);

  useEffect(() => {
    if (!keysRefused(lock)) setRefused(null);
  }, [lock]);

  const shownBefore = useRef(false);
  useEffect(() => {
    if (!visible) {
      shownBefore.current = false;
      return;
    }
    const fit = fitRef.current;
    if (fit) safeFit(fit);
    // Shown (a tab picked): the keys go to it. Made later, once the page is idle after
    // the session's first paint: only if nothing else has the focus by then (the search
    // box, the guidance field, a row the annotator already went to).
    const justShown = !shownBefore.current;
    shownBefore.current = true;
    const active = document.activeElement;
    if (termRef.current && (justShown || !active || active === document.body || hostRef.current?.contains(active))) termRef.current.focus();
    // A screen opened while hidden measures its font only once shown: fit again after that.
    const raf = requestAnimationFrame(() => fit && safeFit(fit));
    return () => cancelAnimationFrame(raf);
  }, [visible, ready]);

  return (
    <div className={`terminal-pane${visible ? '' : ' hidden'}`} aria-hidden={!visible}>
      {replayNote && (
        <div className="terminal-note" data-testid="terminal-truncated">
          {replayNote}
          <button type="button" className="icon-btn" aria-label="Dismiss" onClick={() => setReplayNote(null)}>
            ×
          </button>
        </div>
      )}
      <TerminalControlBanner sessionId={sessionId} terminalId={terminalId} lock={lock} refused={refused} onTaken={() => termRef.current?.focus()} />
      {/* The fit addon measures xterm's parent without its padding: pad an outer frame instead. */}
      <div className="terminal-frame">
        <div
          ref={hostRef}
          className="terminal-host"
          data-testid="terminal"
          data-session-id={sessionId}
          data-terminal-id={terminalId}
          data-status={info.status}
          data-lock={lock?.kind ?? 'none'}
        />
      </div>
      <TerminalStatusBar info={info} live={live} attachError={attachError} />
    </div>
  );
}

function TerminalStatusBar({ info, live, attachError }: { info: TerminalInfo; live: boolean; attachError: string | null }) {
  let text: string | null = null;
  let cls = 'muted';
  if (info.status === 'failed') {
    text = `Failed to start ${info.command || 'the shell'}: ${info.error ?? 'unknown error'}`;
    cls = 'error';
  } else if (info.status === 'exited') {
    const how = info.signal ? `killed by signal ${info.signal}` : `exited with code ${info.exitCode ?? '?'}`;
    text = `Process ${how}. The output above is kept in the recording.`;
    cls = info.exitCode === 0 && !info.signal ? 'muted' : 'warn';
  } else if (!live || info.status === 'recorded') {
    text = 'Recorded output — this terminal takes no input.';
  }
  if (attachError) {
    text = `${text ? `${text} ` : ''}Could not load the output: ${attachError}`;
    cls = 'error';
  }
  if (!text) return null;
  return (
    <div className={`terminal-status ${cls}`} data-testid="terminal-status">
      {text}
    </div>
  );
}

/**
 * xterm yields to the page only between the writes it has queued, never inside one:
 * a replay or a catch-up of a MB goes in slices, so keys and paints get in between.
 */
const WRITE_SLICE = 16 * 1024;

function writeSliced(term: Terminal, data: string, onParsed?: () => void): void {
  for (let i = WRITE_SLICE; i < data.length; i += WRITE_SLICE) term.write(data.slice(i - WRITE_SLICE, i));
  term.write(data.slice(Math.max(0, Math.floor((data.length - 1) / WRITE_SLICE) * WRITE_SLICE)), onParsed);
}

function safeFit(fit: FitAddon) {
  try {
    const dims = fit.proposeDimensions();
    if (dims && dims.cols >= 2 && dims.rows >= 1 && Number.isFinite(dims.cols)) fit.fit();
  } catch {
    /* not laid out yet */
  }
}
