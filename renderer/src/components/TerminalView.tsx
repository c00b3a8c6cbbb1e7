// One live (or recorded) terminal: xterm.js fed by `terminal.attach` (replay) and then
// `terminal.data` pushes, acknowledged for flow control once xterm has parsed them.
import { useEffect, useRef, useState } from 'react';
import { Terminal } from '@xterm/xterm';
import { FitAddon } from '@xterm/addon-fit';
import type { TerminalInfo, TerminalReplay } from '../../../shared/types';
import type { PushEvents } from '../../../shared/contract/index';
import { useApp, useTransport } from '../context';
import { AckBatcher } from '../lib/ackBatcher';
import { copyText, readText } from '../lib/clipboard';
import { describeError } from '../lib/errors';
import { formatBytes } from '../lib/format';
import { dropUtf8Prefix } from '../lib/utf8';
import { TERMINAL_OPTIONS } from './terminalTheme';

/** How much history to paint for a recorded terminal the host cannot attach to. */
const RECORDED_REPLAY_BYTES = 4 * 1024 * 1024;
const RESIZE_DEBOUNCE_MS = 80;
const COPY_ON_SELECT_DELAY_MS = 120;

interface Props {
  sessionId: string;
  info: TerminalInfo;
  live: boolean;
  visible: boolean;
}

type DataMsg = PushEvents['terminal.data'];

export function TerminalView({ sessionId, info, live, visible }: Props) {
  const transport = useTransport();
  const reportError = useApp((s) => s.reportError);
  const pushToast = useApp((s) => s.pushToast);
  const hostRef = useRef<HTMLDivElement>(null);
  const termRef = useRef<Terminal | null>(null);
  const fitRef = useRef<FitAddon | null>(null);
  const [replayNote, setReplayNote] = useState<string | null>(null);
  const [attachError, setAttachError] = useState<string | null>(null);

  // What the input/resize paths may do right now; read from callbacks set up once.
  const canWrite = live && (info.status === 'running' || info.status === 'starting');
  // `cols`/`rows`: the size the pty has (as far as we know).
  const stateRef = useRef({ canWrite, cols: info.cols, rows: info.rows });
  stateRef.current.canWrite = canWrite;
  const syncSizeRef = useRef<() => void>(() => {});

  const terminalId = info.id;

  useEffect(() => {
    const host = hostRef.current;
    if (!host) return;
    const term = new Terminal({ ...TERMINAL_OPTIONS, disableStdin: !stateRef.current.canWrite });
    const fit = new FitAddon();
    term.loadAddon(fit);
    term.open(host);
    termRef.current = term;
    fitRef.current = fit;
    safeFit(fit);

    let disposed = false;
    const ids = { sessionId, terminalId };
    const acker = new AckBatcher((bytes) => {
      transport.request('terminal.ack', { ...ids, bytes }).catch(() => {
        /* the terminal may be gone; nothing to acknowledge any more */
      });
    });

    // ---- output: replay first, then live chunks that follow it ----
    let attached = false;
    let liveFrom = 0;
    const early: DataMsg[] = [];
    const writeChunk = (msg: DataMsg) => {
      const end = msg.offset + msg.bytes;
      if (end <= liveFrom) {
        acker.add(msg.bytes); // already painted by the replay
        return;
      }
      const data = msg.offset < liveFrom ? dropUtf8Prefix(msg.data, liveFrom - msg.offset) : msg.data;
      term.write(data, () => acker.add(msg.bytes));
    };
    const offData = transport.on('terminal.data', (msg) => {
      if (msg.sessionId !== sessionId || msg.terminalId !== terminalId) return;
      if (attached) writeChunk(msg);
      else early.push(msg);
    });
    const paint = (replay: TerminalReplay) => {
      if (disposed) return;
      if (replay.truncated) {
        setReplayNote(`Showing the last ${formatBytes(replay.end - replay.start)}; ${formatBytes(replay.start)} of earlier output is in the recording.`);
      }
      if (replay.data) term.write(replay.data);
      liveFrom = replay.end;
      attached = true;
      for (const m of early) writeChunk(m);
      early.length = 0;
    };
    transport
      .request('terminal.attach', ids)
      .then(paint)
      .catch(async (err) => {
        if (disposed) return;
        // A recorded terminal may not be attachable: paint the tail of its recording instead.
        try {
          const start = Math.max(0, info.bytes - RECORDED_REPLAY_BYTES);
          paint(await transport.request('terminal.read', { ...ids, start }));
        } catch {
          if (!disposed) setAttachError(describeError(err).message);
        }
      });

    // ---- input ----
    let lastInputErrorAt = 0;
    const send = (data: string) => {
      if (!stateRef.current.canWrite) return;
      transport.request('terminal.input', { ...ids, data }).catch((err) => {
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
      if (ev.type !== 'keydown' || !ev.ctrlKey || !ev.shiftKey || ev.altKey || ev.metaKey) return true;
      if (ev.code === 'KeyC') {
        ev.preventDefault();
        if (term.hasSelection()) void copyText(term.getSelection());
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
      disposed = true;
      offData();
      acker.dispose();
      for (const s of subs) s.dispose();
      ro.disconnect();
      cancelAnimationFrame(raf);
      if (resizeTimer) clearTimeout(resizeTimer);
      syncSizeRef.current = () => {};
      if (copyTimer) clearTimeout(copyTimer);
      host.removeEventListener('contextmenu', onContextMenu);
      transport.request('terminal.detach', ids).catch(() => {});
      term.dispose();
      termRef.current = null;
      fitRef.current = null;
    };
    // Re-created only for another terminal; status changes are handled below.
  }, [transport, sessionId, terminalId]);

  // Input allowed or not follows the status (exited, recorded…). When a terminal
  // (re)starts, the pty has the host's size: bring it to the pane's.
  useEffect(() => {
    const term = termRef.current;
    if (!term) return;
    term.options.disableStdin = !canWrite;
    stateRef.current.cols = info.cols;
    stateRef.current.rows = info.rows;
    syncSizeRef.current();
  }, [canWrite, info.cols, info.rows]);

  useEffect(() => {
    if (!visible) return;
    const fit = fitRef.current;
    if (fit) safeFit(fit);
    termRef.current?.focus();
  }, [visible]);

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
      {/* The fit addon measures xterm's parent without its padding: pad an outer frame instead. */}
      <div className="terminal-frame">
        <div
          ref={hostRef}
          className="terminal-host"
          data-testid="terminal"
          data-session-id={sessionId}
          data-terminal-id={terminalId}
          data-status={info.status}
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

function safeFit(fit: FitAddon) {
  try {
    const dims = fit.proposeDimensions();
    if (dims && dims.cols >= 2 && dims.rows >= 1 && Number.isFinite(dims.cols)) fit.fit();
  } catch {
    /* not laid out yet */
  }
}
