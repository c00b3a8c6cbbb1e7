// One store, one slice per domain. The host owns the data; the store mirrors it from
// command results and push events (see wiring.ts). Created per transport so that tests
// can build a store over a fake transport.
import { createStore, type StoreApi } from 'zustand/vanilla';
import type { Transport } from '../../../shared/transport';
import { createSessionsSlice, type SessionsSlice } from './sessions';
import { createTerminalsSlice, type TerminalsSlice } from './terminals';
import { createTrajectorySlice, type TrajectorySlice } from './trajectory';
import { createUiSlice, type UiSlice } from './ui';
import { createSettingsSlice, type SettingsSlice } from './settings';
import { createRolloutSlice, type RolloutSlice } from './rollout';
import { createViewSlice, type ViewSlice } from './view';
import { createLabelsSlice, type LabelsSlice } from './labels';
import { createMergeSlice, type MergeSlice } from './merge';

export type AppState = SessionsSlice & TerminalsSlice & TrajectorySlice & UiSlice & SettingsSlice & RolloutSlice & ViewSlice & LabelsSlice & MergeSlice;
export type AppStore = StoreApi<AppState>;

export function createAppStore(transport: Transport): AppStore {
  return createStore<AppState>()((...a) => ({
    ...createUiSlice(...a),
    ...createSessionsSlice(transport)(...a),
    ...createTerminalsSlice(transport)(...a),
    ...createTrajectorySlice(transport)(...a),
    ...createSettingsSlice(transport)(...a),
    ...createRolloutSlice(transport)(...a),
    ...createViewSlice(...a),
    ...createLabelsSlice(transport)(...a),
    ...createMergeSlice(transport)(...a),
  }));
}
