import { useEffect } from 'react';
import { useStore, type StoreApi } from 'zustand';
import { CodeView } from '../components/CodeView.js';
import { useScreenKeys } from '../components/keys.js';
import { reviewKey, selectCurrent, type ReviewState } from '../state/review.js';

/** Step 5 of the loop: accept, edit (re-tested) or reject the refinements that pass. */
export function Review({ review, dark }: { review: StoreApi<ReviewState>; dark: boolean }) {
  const state = useStore(review);
  const current = selectCurrent(state);
  useEffect(() => {
    void review.getState().refresh();
  }, [review]);
  useScreenKeys(reviewKey, (action) => {
    const s = review.getState();
    if (action === 'accept') void s.decide('accepted');
    else if (action === 'reject') void s.decide('rejected');
    else if (action === 'edit') s.startEdit();
    else if (action === 'cancel') {
      s.cancelEdit();
      if (document.activeElement instanceof HTMLElement) document.activeElement.blur(); // keys act on the screen again
    }
    else s.move(action === 'next' ? 1 : -1);
  }, [review]);

  return (
    <section data-testid="review">
      <p className="step">Step 5 of the loop: review refinements. Accept the good ones (a), edit one into shape (e, re-tested before it counts) or reject it (r). Next: fine-tune on what you accepted.</p>
      {!state.reviewer && (
        <label className="author">Your name (recorded as the reviewer)
          <input aria-label="reviewer name" onBlur={(e) => state.setReviewer(e.target.value)} onKeyDown={(e) => { if (e.key === 'Enter') state.setReviewer((e.target as HTMLInputElement).value); }} />
        </label>
      )}
      <label className="toggle">
        <input type="checkbox" aria-label="include failing refinements" checked={state.includeFailing} onChange={(e) => void state.setIncludeFailing(e.target.checked)} />
        include refinements that fail (edit them into passing programs)
      </label>
      {state.message && (
        <div role={state.message.kind === 'error' ? 'alert' : 'status'} className={state.message.kind === 'error' ? 'error' : 'done'} data-testid="review-message">
          {state.message.text}
          {state.message.details.length > 0 && <ul>{state.message.details.map((d) => <li key={d}>{d}</li>)}</ul>}
        </div>
      )}
      {!current ? (
        <div className="empty"><h2>Nothing to review</h2><p>Refinements that pass their tests show up here: write feedback on failures, then refine (<code>npx ilf run --resume ID</code>).</p></div>
      ) : (
        <>
          <h2>{current.dataset}/{current.taskId} <small>({state.index + 1} of {state.items.length}, {current.origin} refinement)</small></h2>
          <p className="task-text">{current.text}</p>
          <p className="feedback-shown"><b>{current.feedback.author}</b> ({current.feedback.source}): {current.feedback.text}</p>
          {state.edit === null ? (
            <CodeView original={current.original} value={current.program} dark={dark} label="refinement" />
          ) : (
            <textarea aria-label="your edit" className="edit" rows={12} value={state.edit} onChange={(e) => state.setEdit(e.target.value)} autoFocus />
          )}
          <p className="tests-line">{current.execution ? `${current.execution.testResults.filter((t) => t.outcome === 'passed').length}/${current.execution.testResults.length} tests pass` : 'not tested'}
            {current.passed === false && ' — it fails: edit it (e) into a program that passes, or reject it'}</p>
          <p className="nav">
            <button type="button" disabled={state.busy} onClick={() => void state.decide('accepted')}>{state.edit === null ? 'accept (a)' : 'accept my edit (Ctrl+Enter)'}</button>
            {state.edit === null
              ? <button type="button" onClick={() => state.startEdit()}>edit (e)</button>
              : <button type="button" onClick={() => state.cancelEdit()}>cancel the edit (Esc)</button>}
            <button type="button" disabled={state.busy} onClick={() => void state.decide('rejected')}>reject (r)</button>
            <button type="button" onClick={() => state.move(-1)}>← (k)</button>
            <button type="button" onClick={() => state.move(1)}>→ (j)</button>
          </p>
        </>
      )}
    </section>
  );
}
