import { lazy, Suspense, useEffect, useState } from 'react';
import { useStore, type StoreApi } from 'zustand';
import type { CatalogState } from './state/catalog.js';
import type { InboxState } from './state/inbox.js';
import type { ReviewState } from './state/review.js';
import type { FinetuneState } from './state/finetune.js';
import { Finetune } from './screens/Finetune.js';
import type { EvaluateState } from './state/evaluate.js';
import { Evaluate } from './screens/Evaluate.js';
import type { RoundsState } from './state/rounds.js';
import { Rounds } from './screens/Rounds.js';
import type { SetupState } from './state/setup.js';
import { Setup } from './screens/Setup.js';
import { Export } from './screens/Export.js';
import type { ApiClient } from './api/client.js';
import { Inbox } from './screens/Inbox.js';
import { Tasks } from './screens/Tasks.js';

// Monaco comes with the screens that show code, not with the first paint.
const Annotate = lazy(() => import('./screens/Annotate.js').then((m) => ({ default: m.Annotate })));
const Review = lazy(() => import('./screens/Review.js').then((m) => ({ default: m.Review })));

type Screen = 'setup' | 'tasks' | 'sample' | 'failures' | 'review' | 'finetune' | 'evaluate' | 'export';
const SCREENS: readonly Screen[] = ['setup', 'tasks', 'sample', 'failures', 'review', 'finetune', 'evaluate', 'export'];
type Theme = 'light' | 'dark';

const prefersDark = (): boolean => window.matchMedia('(prefers-color-scheme: dark)').matches;

/** The shell: where you are in the loop, the screens, and the theme. */
export function App({ api, setup, catalog, rounds, inbox, review, finetune, evaluate, storage }: {
  api: ApiClient; setup: StoreApi<SetupState>; catalog: StoreApi<CatalogState>; rounds: StoreApi<RoundsState>; inbox: StoreApi<InboxState>; review: StoreApi<ReviewState>;
  finetune: StoreApi<FinetuneState>; evaluate: StoreApi<EvaluateState>; storage: Storage;
}) {
  const [screen, setScreen] = useState<Screen>(SCREENS.find((s) => `#${s}` === location.hash) ?? 'tasks');
  const [theme, setTheme] = useState<Theme>(() => (storage.getItem('ilf.theme') as Theme | null) ?? (prefersDark() ? 'dark' : 'light'));
  const annotating = useStore(inbox, (s) => s.current !== null);
  useEffect(() => {
    document.documentElement.dataset.theme = theme;
    storage.setItem('ilf.theme', theme);
  }, [theme, storage]);
  const go = (s: Screen): void => {
    setScreen(s);
    history.replaceState(null, '', `#${s}`);
  };
  return (
    <main className="app">
      <header>
        <h1>ILF Studio</h1>
        <nav aria-label="steps">
          <button type="button" aria-current={screen === 'setup'} onClick={() => go('setup')}>0 · Setup</button>
          <button type="button" aria-current={screen === 'tasks'} onClick={() => go('tasks')}>1 · Tasks</button>
          <button type="button" aria-current={screen === 'sample'} onClick={() => go('sample')}>2 · Sample</button>
          <button type="button" aria-current={screen === 'failures'} onClick={() => go('failures')}>3 · Failures</button>
          <button type="button" aria-current={screen === 'review'} onClick={() => go('review')}>5 · Review</button>
          <button type="button" aria-current={screen === 'finetune'} onClick={() => go('finetune')}>6 · Fine-tune</button>
          <button type="button" aria-current={screen === 'evaluate'} onClick={() => go('evaluate')}>7 · Evaluate</button>
          <button type="button" aria-current={screen === 'export'} onClick={() => go('export')}>Export</button>
        </nav>
        <button type="button" className="theme" aria-label="theme" onClick={() => setTheme(theme === 'dark' ? 'light' : 'dark')}>
          {theme === 'dark' ? 'light theme' : 'dark theme'}
        </button>
      </header>
      {screen === 'setup' && <Setup setup={setup} />}
      {screen === 'tasks' && <Tasks catalog={catalog} />}
      {screen === 'sample' && <Rounds rounds={rounds} />}
      {screen === 'failures' && (annotating
        ? <Suspense fallback={<p>loading the editor…</p>}><Annotate inbox={inbox} dark={theme === 'dark'} /></Suspense>
        : <Inbox inbox={inbox} />)}
      {screen === 'finetune' && <Finetune finetune={finetune} />}
      {screen === 'evaluate' && <Evaluate evaluate={evaluate} />}
      {screen === 'export' && <Export api={api} />}
      {screen === 'review' && <Suspense fallback={<p>loading the editor…</p>}><Review review={review} dark={theme === 'dark'} /></Suspense>}
    </main>
  );
}
