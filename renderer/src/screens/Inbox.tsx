import { useEffect } from 'react';
import { useStore, type StoreApi } from 'zustand';
import { useShallow } from 'zustand/react/shallow';
import { ERROR_KINDS, type ErrorKind } from '../../../preload/contract.js';
import { selectCounts, selectVisible, type InboxState } from '../state/inbox.js';

/** Step 3 of the loop: the failing samples of tasks no sample solved, to write feedback on. */
export function Inbox({ inbox }: { inbox: StoreApi<InboxState> }) {
  const state = useStore(inbox);
  const visible = useStore(inbox, useShallow(selectVisible));
  const counts = selectCounts(state);
  useEffect(() => {
    void inbox.getState().refresh();
  }, [inbox]);
  const pick = (patch: Partial<InboxState['filter']>): void => {
    const next = { ...state.filter, ...patch };
    (Object.keys(next) as (keyof typeof next)[]).forEach((k) => next[k] === undefined && delete next[k]);
    void state.setFilter(next);
  };
  return (
    <section>
      <p className="step">Step 3 of the loop: feedback on failures. Open one, say what is wrong and how to fix it. Next: refine.</p>
      <div className="filters">
        <select aria-label="error kind" value={state.filter.errorKind ?? ''} onChange={(e) => pick({ errorKind: (e.target.value || undefined) as ErrorKind | undefined })}>
          <option value="">all kinds ({counts.total})</option>
          {ERROR_KINDS.filter((k) => counts.byKind[k]).map((k) => <option key={k} value={k}>{k} ({counts.byKind[k]})</option>)}
        </select>
        <select aria-label="feedback" value={state.filter.hasFeedback === undefined ? '' : String(state.filter.hasFeedback)}
          onChange={(e) => pick({ hasFeedback: e.target.value === '' ? undefined : e.target.value === 'true' })}>
          <option value="">with or without feedback</option>
          <option value="false">needs feedback ({counts.total - counts.withFeedback})</option>
          <option value="true">has feedback ({counts.withFeedback})</option>
        </select>
        <input aria-label="split" placeholder="split" value={state.filter.split ?? ''} onChange={(e) => pick({ split: e.target.value || undefined })} />
        <input aria-label="task" placeholder="task id" value={state.filter.task ?? ''} onChange={(e) => pick({ task: e.target.value || undefined })} />
      </div>
      {state.error && <div role="alert" className="error">{state.error.message}{state.error.hint && <div className="hint">{state.error.hint}</div>}</div>}
      {!state.loading && visible.length === 0 ? (
        <div className="empty">
          <h2>No failures to look at</h2>
          <p>Sample programs and test them first (<code>npx ilf run --model ID --dataset mbpp</code>), or every task already has a passing sample.</p>
        </div>
      ) : (
        <table data-testid="inbox">
          <thead><tr><th>task</th><th>split</th><th>#</th><th>kind</th><th>tests</th><th>feedback</th></tr></thead>
          <tbody>
            {visible.map((f) => (
              <tr key={f.sampleId} tabIndex={0} className="clickable" onClick={() => void state.open(f.sampleId)}
                onKeyDown={(e) => { if (e.key === 'Enter') void state.open(f.sampleId); }}>
                <td>{f.dataset}/{f.taskId}</td><td>{f.split}</td><td>{f.sampleIndex}</td><td>{f.errorKind}</td>
                <td>{f.testsPassed}/{f.testsTotal}</td><td>{f.feedbackCount}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}
