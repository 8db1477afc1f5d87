import { createStore, type StoreApi } from 'zustand/vanilla';
import type { RefinementItem } from '../../../preload/contract.js';
import { ApiError, type ApiClient } from '../api/client.js';
import type { Persist } from './inbox.js';
import type { KeyPress } from './key-press.js';

/** The Review screen: passing refinements waiting for a person, one open at a time. */
export interface ReviewState {
  items: RefinementItem[];
  index: number;
  reviewer: string;
  /** The reviewer's own version of the open refinement, while editing. */
  edit: string | null;
  busy: boolean;
  /** Also list refinements that fail, to edit them into passing programs. */
  includeFailing: boolean;
  setIncludeFailing(on: boolean): Promise<void>;
  message: { text: string; details: readonly string[]; kind: 'error' | 'done' } | null;
  refresh(): Promise<void>;
  setReviewer(name: string): void;
  move(delta: 1 | -1): void;
  startEdit(): void;
  setEdit(text: string): void;
  cancelEdit(): void;
  /** Accepts the open refinement (the edit, re-tested, when editing) or rejects it; the list moves on. */
  decide(decision: 'accepted' | 'rejected'): Promise<void>;
}

export const selectCurrent = (s: Pick<ReviewState, 'items' | 'index'>): RefinementItem | undefined => s.items[s.index];

export function createReviewStore(api: ApiClient, persist: Persist): StoreApi<ReviewState> {
  return createStore<ReviewState>()((set, get) => ({
    items: [], index: 0, reviewer: persist.load(), edit: null, busy: false, message: null, includeFailing: false,
    async setIncludeFailing(on) {
      set({ includeFailing: on, index: 0 });
      await get().refresh();
    },
    async refresh() {
      try {
        const items = await api.call('refinements.list', { toReview: true, failing: get().includeFailing, limit: 500 });
        set({ items, index: Math.min(get().index, Math.max(0, items.length - 1)) });
      } catch (e) {
        set({ message: { text: e instanceof ApiError ? e.message : String(e), details: [], kind: 'error' } });
      }
    },
    setReviewer(name) {
      persist.store(name.trim());
      set({ reviewer: name.trim() });
    },
    move(delta) {
      const index = get().index + delta;
      if (index >= 0 && index < get().items.length) set({ index, edit: null, message: null });
    },
    startEdit() {
      const current = selectCurrent(get());
      if (current) set({ edit: get().edit ?? current.program });
    },
    setEdit(text) {
      set({ edit: text });
    },
    cancelEdit() {
      set({ edit: null });
    },
    async decide(decision) {
      const current = selectCurrent(get());
      const { reviewer, edit } = get();
      if (!current || get().busy) return;
      if (!reviewer) {
        set({ message: { text: 'give your name first: it is recorded as the reviewer', details: [], kind: 'error' } });
        return;
      }
      set({ busy: true, message: null });
      try {
        await api.call('refinements.review', { refinementId: current.refinementId, reviewer, decision, ...(decision === 'accepted' && edit !== null ? { editedProgram: edit } : {}) });
        const items = get().items.filter((i) => i.refinementId !== current.refinementId);
        set({ items, index: Math.min(get().index, Math.max(0, items.length - 1)), edit: null, busy: false,
          message: { text: `${current.dataset}/${current.taskId}: ${decision}${decision === 'accepted' && edit !== null ? ' (your edit passes its tests)' : ''}`, details: [], kind: 'done' } });
      } catch (e) {
        set({ busy: false, message: { text: e instanceof ApiError ? e.message : String(e), details: e instanceof ApiError ? e.details : [], kind: 'error' } });
      }
    },
  }));
}

/** Review keys: a accept, r reject, e edit, j/k move; Ctrl+Enter accepts the edit from inside the editor; Esc leaves it. */
export type ReviewKey = 'accept' | 'reject' | 'edit' | 'next' | 'previous' | 'cancel' | null;

export function reviewKey(e: KeyPress): ReviewKey {
  if ((e.ctrlKey || e.metaKey) && e.key === 'Enter') return 'accept';
  if (e.key === 'Escape') return 'cancel';
  if (e.inTextField || e.ctrlKey || e.metaKey || e.altKey) return null;
  return ({ a: 'accept', r: 'reject', e: 'edit', j: 'next', k: 'previous' } as const)[e.key as 'a'] ?? null;
}
