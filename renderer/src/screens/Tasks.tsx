import { useEffect, useState } from 'react';
import { useStore, type StoreApi } from 'zustand';
import { useShallow } from 'zustand/react/shallow';
import { selectIsEmpty, selectSplitNames, selectTotalTasks, type CatalogState } from '../state/catalog.js';

/** Step 1 of the loop: the tasks, by dataset and split. */
export function Tasks({ catalog }: { catalog: StoreApi<CatalogState> }) {
  const state = useStore(catalog);
  // A new array each time: compared shallowly, or React would re-render forever.
  const splits = useStore(catalog, useShallow(selectSplitNames));
  const totalTasks = useStore(catalog, selectTotalTasks);
  const empty = useStore(catalog, selectIsEmpty);
  const [search, setSearch] = useState('');

  useEffect(() => {
    void catalog.getState().refresh();
  }, [catalog]);

  const { filter } = state;
  const pick = (patch: Partial<CatalogState['filter']>): void => {
    const next = { ...filter, ...patch };
    (Object.keys(next) as (keyof typeof next)[]).forEach((k) => next[k] === undefined && delete next[k]);
    void state.setFilter(next);
  };

  return (
    <section>
      <p className="step">Step 1 of the loop: tasks. Next: sample programs from a model and look at the failures.</p>
      {state.error && (
        <div role="alert" className="error">
          {state.error.message}
          {state.error.hint && <div className="hint">{state.error.hint}</div>}
        </div>
      )}
      {empty ? (
        <section className="empty">
          <h2>No tasks yet</h2>
          <p>
            Import MBPP, HumanEval or your own JSONL tasks: <code>npx ilf import mbpp.jsonl --format mbpp</code>
          </p>
        </section>
      ) : (
        <section>
          <div className="summary" data-testid="summary">
            {state.datasets.length} datasets, {totalTasks} tasks
          </div>
          <form
            className="filters"
            onSubmit={(e) => {
              e.preventDefault();
              pick({ search: search.trim() || undefined });
            }}
          >
            <select aria-label="dataset" value={filter.dataset ?? ''} onChange={(e) => pick({ dataset: e.target.value || undefined, split: undefined })}>
              <option value="">all datasets</option>
              {state.datasets.map((d) => (
                <option key={d.name} value={d.name}>{d.name}</option>
              ))}
            </select>
            <select aria-label="split" value={filter.split ?? ''} onChange={(e) => pick({ split: e.target.value || undefined })}>
              <option value="">all splits</option>
              {splits.map((s) => (
                <option key={s} value={s}>{s}</option>
              ))}
            </select>
            <input aria-label="search" placeholder="search task text" value={search} onChange={(e) => setSearch(e.target.value)} />
          </form>
          <table>
            <thead>
              <tr><th>dataset</th><th>task</th><th>split</th><th>tests</th><th>description</th></tr>
            </thead>
            <tbody>
              {state.tasks.map((t) => (
                <tr key={`${t.dataset}/${t.taskId}`}>
                  <td>{t.dataset}</td><td>{t.taskId}</td><td>{t.split}</td><td>{t.testCount}</td><td>{t.text.slice(0, 120)}</td>
                </tr>
              ))}
            </tbody>
          </table>
          {state.total > state.tasks.length && <p className="more">showing {state.tasks.length} of {state.total}</p>}
        </section>
      )}
    </section>
  );
}
