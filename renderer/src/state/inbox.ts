import { createStore, type StoreApi } from 'zustand/vanilla';
import type { ErrorKind, FailureDetail, FailureItem } from '../../../preload/contract.js';
import { ApiError, type ApiClient } from '../api/client.js';
import { screenError, type ScreenError } from './screen-error.js';
import type { KeyPress } from './key-press.js';

/** The failures inbox and the Annotate screen: which failures, which one is open, and the feedback being written. */

export interface InboxFilter {
  runId?: number;
  dataset?: string;
  split?: string;
  errorKind?: ErrorKind;
  /** Only failures with (true) or without (false) feedback. */
  hasFeedback?: boolean;
  /** Task id (or the start of it). */
  task?: string;
}

export type SaveState = 'idle' | 'pending' | 'saving' | 'saved' | 'conflict' | 'error';

export interface InboxState {
  items: FailureItem[];
  filter: InboxFilter;
  loading: boolean;
  error: ScreenError | null;
  /** The annotator's name, recorded as the author of what they write. */
  author: string;
  /** The open failure, or null on the inbox list. */
  current: FailureDetail | null;
  draft: string;
  /** The feedback this annotator already saved on the open failure. */
  saved: { feedbackId: number; version: string; text: string } | null;
  saveState: SaveState;
  saveMessage: string | null;
  helpOpen: boolean;
  refresh(): Promise<void>;
  setFilter(filter: InboxFilter): Promise<void>;
  setAuthor(name: string): void;
  open(sampleId: number): Promise<void>;
  close(): void;
  /** Moves by `delta` through the visible failures (saving first); returns false at either end. */
  step(delta: 1 | -1): Promise<boolean>;
  setDraft(text: string): void;
  saveNow(): Promise<void>;
  toggleHelp(open?: boolean): void;
}

export const SAVE_DELAY_MS = 500;


/** What the list shows: the contract's filters are applied by main, error kind and feedback here. */
export const selectVisible = (s: Pick<InboxState, 'items' | 'filter'>): FailureItem[] =>
  s.items.filter((i) => (s.filter.errorKind === undefined || i.errorKind === s.filter.errorKind) &&
    (s.filter.hasFeedback === undefined || (i.feedbackCount > 0) === s.filter.hasFeedback) &&
    (!s.filter.task || i.taskId.startsWith(s.filter.task)));

/** Counts for the filter bar: per error kind, and with / without feedback. */
export function selectCounts(s: Pick<InboxState, 'items'>): { total: number; withFeedback: number; byKind: Partial<Record<ErrorKind, number>> } {
  const byKind: Partial<Record<ErrorKind, number>> = {};
  let withFeedback = 0;
  for (const i of s.items) {
    if (i.errorKind) byKind[i.errorKind] = (byKind[i.errorKind] ?? 0) + 1;
    if (i.feedbackCount > 0) withFeedback += 1;
  }
  return { total: s.items.length, withFeedback, byKind };
}

/** Where the open failure sits in the visible list (-1 when it is not in it). */
export const selectPosition = (s: Pick<InboxState, 'items' | 'filter' | 'current'>): { index: number; of: number } => {
  const visible = selectVisible(s);
  return { index: s.current ? visible.findIndex((i) => i.sampleId === s.current?.sampleId) : -1, of: visible.length };
};

export interface Persist {
  load(): string;
  store(name: string): void;
}

export function createInboxStore(api: ApiClient, persist: Persist = { load: () => '', store: () => undefined }): StoreApi<InboxState> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  return createStore<InboxState>()((set, get) => {
    const load = async (): Promise<void> => {
      set({ loading: true, error: null });
      try {
        const { runId, dataset, split } = get().filter; // error kind, feedback and task filter here, over what main sent
        const items = await api.call('failures.list', { ...(runId ? { runId } : {}), ...(dataset ? { dataset } : {}), ...(split ? { split } : {}), limit: 500 });
        set({ items, loading: false });
      } catch (e) {
        set({ loading: false, error: screenError(e) });
      }
    };
    const mine = (detail: FailureDetail, author: string): InboxState['saved'] => {
      const f = detail.feedback.filter((x) => x.source === 'human' && x.author === author).at(-1);
      return f ? { feedbackId: f.id, version: f.version, text: f.text } : null;
    };
    return {
      items: [], filter: {}, loading: false, error: null, author: persist.load(), current: null, draft: '', saved: null,
      saveState: 'idle', saveMessage: null, helpOpen: false,
      refresh: load,
      async setFilter(filter) {
        set({ filter });
        await load();
      },
      setAuthor(name) {
        persist.store(name.trim());
        set({ author: name.trim() });
        const { current } = get();
        if (current) {
          const saved = mine(current, name.trim());
          set({ saved, draft: saved?.text ?? '' });
        }
      },
      async open(sampleId) {
        clearTimeout(timer);
        try {
          const current = await api.call('failures.get', { sampleId });
          const saved = mine(current, get().author);
          set({ current, saved, draft: saved?.text ?? '', saveState: saved ? 'saved' : 'idle', saveMessage: null, error: null });
        } catch (e) {
          set({ error: screenError(e) });
        }
      },
      close() {
        clearTimeout(timer);
        set({ current: null, draft: '', saved: null, saveState: 'idle', saveMessage: null, helpOpen: false });
        void load();
      },
      async step(delta) {
        await get().saveNow();
        const visible = selectVisible(get());
        const { index } = selectPosition(get());
        const next = visible[index + delta];
        if (!next) return false;
        await get().open(next.sampleId);
        return true;
      },
      setDraft(text) {
        set({ draft: text, saveState: 'pending', saveMessage: null });
        clearTimeout(timer);
        timer = setTimeout(() => void get().saveNow(), SAVE_DELAY_MS);
      },
      async saveNow() {
        clearTimeout(timer);
        const { current, draft, saved, author, saveState } = get();
        if (!current || saveState === 'conflict' || draft.trim() === '' || draft.trim() === saved?.text) {
          if (saveState === 'pending') set({ saveState: saved ? 'saved' : 'idle' });
          return;
        }
        if (!author) {
          set({ saveState: 'error', saveMessage: 'give your name first: it is recorded as the author of your feedback' });
          return;
        }
        set({ saveState: 'saving' });
        const text = draft.trim();
        try {
          const result = saved
            ? { feedbackId: saved.feedbackId, ...(await api.call('feedback.update', { feedbackId: saved.feedbackId, author, text, version: saved.version })) }
            : await api.call('feedback.add', { sampleId: current.sampleId, author, text });
          const stillHere = get().current?.sampleId === current.sampleId;
          if (stillHere) set({ saved: { feedbackId: result.feedbackId, version: result.version, text }, saveState: get().draft.trim() === text ? 'saved' : 'pending' });
          set({ items: get().items.map((i) => (i.sampleId === current.sampleId && !saved ? { ...i, feedbackCount: i.feedbackCount + 1 } : i)) });
        } catch (e) {
          const conflict = e instanceof ApiError && e.code === 'CONFLICT';
          set({ saveState: conflict ? 'conflict' : 'error', saveMessage: screenError(e).message });
        }
      },
      toggleHelp(open) {
        set({ helpOpen: open ?? !get().helpOpen });
      },
    };
  });
}

/** Keyboard-first annotation: what a key press means, given where the focus is. */
export type KeyAction = 'next' | 'previous' | 'submit' | 'skip' | 'help' | 'close' | 'edit' | null;

export function keyAction(e: KeyPress): KeyAction {
  if ((e.ctrlKey || e.metaKey) && e.key === 'Enter') return 'submit';
  if (e.altKey && e.key === 'ArrowDown') return 'next';
  if (e.altKey && e.key === 'ArrowUp') return 'previous';
  if (e.key === 'Escape') return 'close';
  if (e.inTextField || e.ctrlKey || e.metaKey || e.altKey) return null;
  switch (e.key) {
    case 'j': return 'next';
    case 'k': return 'previous';
    case 's': return 'skip';
    case 'e': case 'Enter': return 'edit';
    case '?': return 'help';
    default: return null;
  }
}

/** The help overlay's list, from the same table the handler uses. */
export const KEY_HELP: readonly [string, string][] = [
  ['j / Alt+↓', 'next failure'],
  ['k / Alt+↑', 'previous failure'],
  ['e / Enter', 'write feedback'],
  ['Ctrl+Enter', 'save and go to the next failure'],
  ['s', 'skip to the next failure'],
  ['Esc', 'close help, or back to the inbox'],
  ['?', 'this help'],
];
