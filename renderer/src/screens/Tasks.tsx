import { useEffect, useState } from 'react';
import type { DatasetFormat } from '../../../preload/contract.js';
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
  const [file, setFile] = useState('');
  const [format, setFormat] = useState<DatasetFormat>('mbpp');
  const [name, setName] = useState('');
  const importing = state.importing;

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
      <form className="filters import" onSubmit={(e) => { e.preventDefault(); if (file.trim()) void state.importFile(file.trim(), format, name.trim() || undefined); }}>
        <input aria-label="file to import" placeholder="path of a .jsonl file (on the machine running ILF Studio)" value={file} onChange={(e) => setFile(e.target.value)} size={50} />
        <select aria-label="format" value={format} onChange={(e) => setFormat(e.target.value as DatasetFormat)}>
          <option value="mbpp">MBPP</option><option value="humaneval">HumanEval</option><option value="jsonl">JSONL tasks</option>
        </select>
        <input aria-label="dataset name" placeholder="name (optional)" value={name} onChange={(e) => setName(e.target.value)} />
        <button type="submit">import</button>
      </form>
      {importing && (
        <div data-testid="import-result" role={importing.error ? 'alert' : 'status'} className={importing.error ? 'error' : importing.report ? 'done' : ''}>
          {importing.report
            ? `imported ${importing.report.dataset}: ${importing.report.added} added, ${importing.report.updated} updated, ${importing.report.unchanged} unchanged (${Object.entries(importing.report.splits).map(([k, v]) => `${k} ${v}`).join(', ')})`
            : importing.error ? importing.error.message : `reading: ${importing.linesRead} lines`}
          {importing.error?.hint && <div className="hint">{importing.error.hint}</div>}
          {importing.error && importing.error.details.length > 0 && <ul>{importing.error.details.map((d) => <li key={d}>{d}</li>)}</ul>}
        </div>
      )}
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
            Import MBPP, HumanEval or your own JSONL tasks with the form above (or <code>npx ilf import mbpp.jsonl --format mbpp</code>)
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
