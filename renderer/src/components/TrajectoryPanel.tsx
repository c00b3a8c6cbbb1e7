// Right-hand panel: the trajectory of the selected branch as a windowed timeline of
// steps (thought, action, observation, guidance, comments), a branch selector with
// fork markers, keyboard navigation, and the guidance composer below it.
import { useCallback, useMemo, useState, type ReactNode } from 'react';
import type { Comment, Guidance, Step } from '../../../shared/trajectory';
import { useApp, useAppStore } from '../context';
import { PanelResizer } from './PanelResizer';
import { PANEL_LIMITS } from '../store/view';
import { stepDetailsReady } from '../store/trajectory';
import { branchContains, branchLabel, isActive, latestRollout, listBranches } from '../lib/trajectoryView';
import { showBranchTerminal } from './trajectory/actions';
import { estimateStepHeight, StepRow } from './trajectory/StepRow';
import { VirtualList } from './trajectory/VirtualList';
import { GuidancePanel } from './trajectory/GuidancePanel';
import { BranchTree } from './trajectory/BranchTree';
import { Icon } from './Icon';
import { useTrajectoryKeys } from './trajectory/useTrajectoryKeys';
import { useTrajectoryView, type TrajectoryView } from './trajectory/useTrajectoryView';

export function TrajectoryPanel() {
  const tv = useTrajectoryView();
  const opening = useApp((s) => s.openingSessionId);
  const [tree, setTree] = useState(false);
  const collapsed = useApp((s) => s.panelCollapsed);
  const setCollapsed = useApp((s) => s.setPanelCollapsed);
  // The keys keep working while the panel is folded (the inspector still follows the selection).
  useTrajectoryKeys(tv);

  if (collapsed) {
    return (
      <aside className="side-panel rail" aria-label="Trajectory" data-testid="trajectory-rail">
        <button type="button" className="icon-btn" data-testid="panel-expand" title="Show the trajectory" aria-label="Show the trajectory" onClick={() => setCollapsed(false)}>
          <Icon name="panelRight" size={15} />
        </button>
        <span className="rail-title">Trajectory</span>
      </aside>
    );
  }
  return (
    <aside className="side-panel" aria-label="Trajectory" data-testid="trajectory-panel">
      <TrajectoryResizer />
      <div className="panel-head">
        <button type="button" className="icon-btn" data-testid="panel-collapse" title="Fold the trajectory panel (more room for the terminal)" aria-label="Fold the trajectory panel" onClick={() => setCollapsed(true)}>
          <Icon name="panelRight" size={15} />
        </button>
        <span className="panel-title">Trajectory</span>
        {tv.entry && <BranchSelect tv={tv} />}
        <span className="spacer" />
        {tv.entry && <PanelTools tv={tv} tree={tree} onTree={() => setTree(!tree)} />}
      </div>
      {tree && tv.entry && <BranchTree tv={tv} />}
      <div className="panel-body">
        {!tv.sessionId && !opening && <p className="muted pad">Open a session to see its agent steps.</p>}
        {!tv.entry && opening && <p className="muted pad">Loading…</p>}
        {tv.entry && tv.sessionId && <StepTimeline tv={tv} sessionId={tv.sessionId} />}
      </div>
      <GuidancePanel tv={tv} />
    </aside>
  );
}

function TrajectoryResizer() {
  const setWidth = useApp((s) => s.setPanelWidth);
  const width = useApp((s) => s.panelWidth);
  return <PanelResizer testId="panel-resizer" label="Resize the trajectory panel" width={width} {...PANEL_LIMITS.panel} edge="left" onWidth={setWidth} />;
}

function BranchSelect({ tv }: { tv: TrajectoryView }) {
  const selectBranch = useApp((s) => s.selectBranch);
  const store = useAppStore();
  const { entry, sessionId } = tv;
  const branches = useMemo(() => (entry ? listBranches(entry.t) : []), [entry]);
  if (!entry || !sessionId || branches.length === 0) return null;
  return (
    <select
      className="branch-select"
      data-testid="branch-select"
      aria-label="Branch"
      value={tv.branchId ?? ''}
      title={`${(tv.branchId && entry.t.branches.get(tv.branchId) ? branchLabel(entry.t.branches.get(tv.branchId)!) : 'Branch')} — the branch shown (b: next branch)`}
      onChange={(e) => {
        const id = e.target.value;
        // Keep the selected step when the other branch shares it; else show the fork.
        const sel = tv.view.stepId;
        const b = entry.t.branches.get(id);
        if (!sel) selectBranch(sessionId, id, { follow: true, stepId: null });
        else selectBranch(sessionId, id, { follow: false, stepId: branchContains(entry.t, sel, id) ? sel : b?.fromStepId ?? null });
        showBranchTerminal(store, sessionId, id);
      }}
    >
      {branches.map((b) => (
        <option key={b.branch.id} value={b.branch.id}>
          {branchLabel(b.branch)}
          {b.forkDepth > 0 ? ` (from ${b.forkDepth})` : ''} · {b.ownSteps} step{b.ownSteps === 1 ? '' : 's'}
          {b.rollout && isActive(b.rollout) ? ` · ${b.rollout.state}` : ''}
        </option>
      ))}
    </select>
  );
}

function PanelTools({ tv, tree, onTree }: { tv: TrajectoryView; tree: boolean; onTree(): void }) {
  const expandThoughts = useApp((s) => s.expandThoughts);
  const expandObs = useApp((s) => s.expandObservations);
  const compact = useApp((s) => s.compactRows);
  const setCompact = useApp((s) => s.setCompactRows);
  const setExpandAll = useApp((s) => s.setExpandAll);
  const setFollow = useApp((s) => s.setFollow);
  const openDialog = useApp((s) => s.openDialog);
  return (
    <span className="panel-tools">
      <ToolToggle on={tree} testId="branch-tree-toggle" title="The branches as a tree: fork points, steps and labels per branch" onClick={onTree}>
        branches
      </ToolToggle>
      <ToolToggle on={compact} testId="compact-rows" title="One line per step: hide the thought and observation previews" onClick={() => setCompact(!compact)}>
        compact
      </ToolToggle>
      <ToolToggle on={expandThoughts} testId="expand-thoughts" title="Expand every thought" onClick={() => setExpandAll('thoughts', !expandThoughts)}>
        thoughts
      </ToolToggle>
      <ToolToggle on={expandObs} testId="expand-observations" title="Expand every observation" onClick={() => setExpandAll('observations', !expandObs)}>
        output
      </ToolToggle>
      <ToolToggle on={tv.view.follow} testId="follow-live" title="Keep the newest step in view (f)" onClick={() => tv.sessionId && setFollow(tv.sessionId, !tv.view.follow)}>
        follow
      </ToolToggle>
      <button type="button" className="tool-btn" data-testid="shortcuts-open" title="Keyboard shortcuts (?)" onClick={() => openDialog({ kind: 'shortcuts' })}>
        ?
      </button>
    </span>
  );
}

function ToolToggle(props: { on: boolean; testId: string; title: string; onClick(): void; children: ReactNode }) {
  return (
    <button type="button" className={`tool-btn${props.on ? ' on' : ''}`} data-testid={props.testId} aria-pressed={props.on} title={props.title} onClick={props.onClick}>
      {props.children}
    </button>
  );
}

type Item = { kind: 'step'; step: Step } | { kind: 'start-guidance'; guidance: Guidance[] } | { kind: 'note'; text: string };
const itemKey = (it: Item) => (it.kind === 'step' ? it.step.id : it.kind === 'note' ? '__note' : '__start');

function StepTimeline({ tv, sessionId }: { tv: TrajectoryView; sessionId: string }) {
  const entry = tv.entry!;
  const { t, version } = entry;
  const store = useAppStore();
  const streaming = useApp((s) => s.streaming[sessionId]);
  const toggled = useApp((s) => s.toggled);
  const expandThoughts = useApp((s) => s.expandThoughts);
  const expandObs = useApp((s) => s.expandObservations);
  const compact = useApp((s) => s.compactRows);
  const revealTick = useApp((s) => s.revealTick);
  const selectStep = useApp((s) => s.selectStep);
  const toggleSection = useApp((s) => s.toggleSection);
  const setFollow = useApp((s) => s.setFollow);
  const selectBranch = useApp((s) => s.selectBranch);
  const rollout = latestRollout(t);
  const liveBranch = isActive(rollout) ? rollout!.branchId : null;

  const items = useMemo<Item[]>(() => {
    const out: Item[] = [];
    const first = [...t.guidance.values()].filter((g) => g.delivered?.stepId === null && (!g.branchId || g.branchId === tv.branchId));
    if (first.length && tv.path.length) out.push({ kind: 'start-guidance', guidance: first });
    for (const step of tv.path) out.push({ kind: 'step', step });
    const b = tv.branchId ? t.branches.get(tv.branchId) : undefined;
    const last = tv.path[tv.path.length - 1];
    if (b && tv.path.length && last!.branchId !== b.id) {
      const from = b.fromStepId ? t.steps.get(b.fromStepId) : undefined;
      const waiting = liveBranch === b.id;
      out.push({
        kind: 'note',
        text: `${branchLabel(b)} continues from step ${from?.depth ?? 0} and has no steps yet.${b.reason === 'rewind' ? " The step's files and shell were restored in fresh terminals." : ''}${waiting ? ' Waiting for the agent…' : ''}`,
      });
    }
    return out;
  }, [t, tv.path, tv.branchId, liveBranch]);

  const isOpen = useCallback(
    (id: string, section: 'thought' | 'action' | 'obs') => {
      const flip = !!toggled[`${id}:${section}`];
      const base = section === 'thought' ? expandThoughts : section === 'obs' ? expandObs : false;
      return base !== flip;
    },
    [toggled, expandThoughts, expandObs],
  );

  const estimate = useCallback(
    (it: Item) => (it.kind === 'step' ? estimateStepHeight(it.step, { thought: isOpen(it.step.id, 'thought'), action: isOpen(it.step.id, 'action'), obs: isOpen(it.step.id, 'obs') }, compact) : it.kind === 'note' ? 44 : 60),
    [isOpen, compact],
  );

  const onSelect = useCallback((id: string) => selectStep(sessionId, id), [selectStep, sessionId]);
  const onToggle = useCallback((id: string, section: 'thought' | 'action' | 'obs') => toggleSection(`${id}:${section}`), [toggleSection]);
  const onFork = useCallback(
    (id: string) => {
      const st = store.getState();
      const e = st.trajectories[sessionId];
      const step = e?.t.steps.get(id);
      if (!e || !step || step.children.length < 2) return;
      const path = tv.path;
      const i = path.findIndex((s) => s.id === id);
      const onPath = path[i + 1]?.id;
      const k = step.children.indexOf(onPath ?? '');
      const next = e.t.steps.get(step.children[(k + 1) % step.children.length]!);
      if (!next) return;
      selectBranch(sessionId, next.branchId, { follow: false, stepId: id });
      showBranchTerminal(store, sessionId, next.branchId);
    },
    [store, sessionId, tv.path, selectBranch],
  );

  const renderItem = (it: Item) => {
    if (it.kind === 'note') {
      return (
        <div className="step-row list-note" data-testid="branch-note">
          {it.text}
        </div>
      );
    }
    if (it.kind === 'start-guidance') {
      return (
        <div className="step-row start-guidance">
          {it.guidance.map((g) => (
            <div key={g.id} className="guidance" data-testid="step-guidance" data-guidance-id={g.id}>
              <span className="guidance-state">guidance · delivered at step 1 · {g.author}</span>
              <span className="guidance-text">{g.text}</span>
            </div>
          ))}
        </div>
      );
    }
    const step = it.step;
    const parent = step.parentId ? t.steps.get(step.parentId) : undefined;
    const branch = t.branches.get(step.branchId);
    const starts = parent ? parent.branchId !== step.branchId : !!branch && branch.reason !== 'root';
    const guidance: Guidance[] = [];
    for (const gid of step.guidance) {
      const g = t.guidance.get(gid);
      if (g) guidance.push(g);
    }
    const comments: Comment[] = [];
    for (const cid of step.comments) {
      const c = t.comments.get(cid);
      if (c) comments.push(c);
    }
    return (
      <StepRow
        step={step}
        version={version}
        selected={tv.view.stepId === step.id}
        streaming={streaming && streaming.stepId === step.id && !step.response ? streaming : null}
        retry={entry.retry && entry.retry.stepId === step.id ? entry.retry : null}
        pauses={step.finishedAt === undefined ? entry.pauses[step.rolloutId] : undefined}
        branchStart={starts && branch ? { label: branchLabel(branch), fromDepth: parent?.depth ?? 0, reason: branch.reason, author: branch.author } : null}
        forks={Math.max(0, step.children.length - 1)}
        guidance={guidance}
        comments={comments}
        expanded={{ thought: isOpen(step.id, 'thought'), action: isOpen(step.id, 'action'), obs: isOpen(step.id, 'obs') }}
        compact={compact}
        loading={!stepDetailsReady(entry, step.id)}
        onSelect={onSelect}
        onToggle={onToggle}
        onFork={onFork}
      />
    );
  };

  const onStickChange = useCallback((atEnd: boolean) => setFollow(sessionId, atEnd), [setFollow, sessionId]);

  if (items.length === 0) {
    return (
      <p className="muted pad" data-testid="no-steps">
        {tv.branchId && liveBranch === tv.branchId ? 'Waiting for the first step…' : 'No agent steps yet. Start a rollout above the terminal.'}
      </p>
    );
  }
  return (
    <div className="timeline">
      <VirtualList
        items={items}
        itemKey={itemKey}
        estimate={estimate}
        renderItem={renderItem}
        stickToEnd={tv.view.follow}
        onStickChange={onStickChange}
        revealKey={tv.view.stepId}
        revealTick={revealTick}
        testId="step-list"
        className="step-list"
        // A group, not a listbox: a step row holds its own buttons (toggles, fork marker),
        // which options may not; the keyboard is the page's (j/k), not the list's.
        role="group"
        aria-label="Steps"
        tabIndex={0}
      />
    </div>
  );
}
