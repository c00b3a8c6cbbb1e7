import type { StateCreator } from 'zustand';
import type { AppState } from './index';

/** A slice of the one app store; every slice sees the whole state through get(). */
export type Slice<T> = StateCreator<AppState, [], [], T>;
