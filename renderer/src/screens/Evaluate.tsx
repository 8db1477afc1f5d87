import { useEffect } from 'react';
import { useStore, type StoreApi } from 'zustand';
import type { EvaluateState } from '../state/evaluate.js';

const pct = (x: number): string => `${(100 * x).toFixed(1)}%`;
const points = (x: number): string => `${x >= 0 ? '+' : ''}${(100 * x).toFixed(1)}`;

/** Step 7 of the loop: pass@k before vs after, with the paired difference and its confidence interval. */
export function Evaluate({ evaluate }: { evaluate: StoreApi<EvaluateState> }) {
  const state = useStore(evaluate);
  useEffect(() => {
    void evaluate.getState().refresh();
  }, [evaluate]);
  const label = (id: number): string => {
    const e = state.evaluations.find((x) => x.id === id);
    return e ? `#${e.id} model ${e.modelId}${e.adapterId !== null ? ` + adapter ${e.adapterId}` : ''} · ${e.dataset}/${e.split} · n=${e.n}, T=${e.temperature}` : String(id);
  };
  const picker = (which: 'before' | 'after') => (
    <label>{which}
      <select aria-label={which} value={state[which] ?? ''} onChange={(e) => void state.choose({ [which]: e.target.value ? Number(e.target.value) : null })}>
        <option value="">choose…</option>
        {state.evaluations.map((e) => <option key={e.id} value={e.id}>{label(e.id)}</option>)}
      </select>
    </label>
  );
  const k1 = state.comparisons[0];
  return (
    <section data-testid="evaluate">
      <p className="step">Step 7 of the loop: did the feedback help? pass@k of the base model against base + adapter on held-out tasks. Next: another round from the new model.</p>
      {state.error && <div role="alert" className="error">{state.error.message}{state.error.hint && <div className="hint">{state.error.hint}</div>}</div>}
      {state.evaluations.length === 0 ? (
        <div className="empty"><h2>No evaluations yet</h2><p>Evaluate a model and its adapter on the held-out split: <code>npx ilf eval --model ID --dataset mbpp --split test</code>, or finish an ILF round.</p></div>
      ) : (
        <>
          <div className="filters">{picker('before')}{picker('after')}</div>
          {state.comparisons.length > 0 && (
            <>
              <table data-testid="pass-at-k">
                <thead><tr><th>metric</th><th>before</th><th>after</th><th>difference (95% CI)</th></tr></thead>
                <tbody>
                  {state.comparisons.map((c) => (
                    <tr key={c.k}>
                      <td>pass@{c.k}</td><td>{pct(c.before)}</td><td>{pct(c.after)}</td>
                      <td>{points(c.difference.mean)} points ({points(c.difference.low)} … {points(c.difference.high)})</td>
                    </tr>
                  ))}
                </tbody>
              </table>
              <svg role="img" aria-label="pass@k before and after" width={360} height={24 * state.comparisons.length * 2 + 8} className="chart">
                {state.comparisons.flatMap((c, i) => [
                  <rect key={`b${c.k}`} x={70} y={8 + i * 48} width={Math.max(1, 280 * c.before)} height={18} fill="#888" />,
                  <rect key={`a${c.k}`} x={70} y={28 + i * 48} width={Math.max(1, 280 * c.after)} height={18} fill="#3a7" />,
                  <text key={`t${c.k}`} x={4} y={32 + i * 48} fontSize="12" fill="currentColor">pass@{c.k}</text>,
                ])}
              </svg>
              {k1 && (
                <table data-testid="per-task">
                  <thead><tr><th>task</th><th>pass@{k1.k} before</th><th>after</th></tr></thead>
                  <tbody>
                    {[...k1.tasks].sort((a, b) => (b.after - b.before) - (a.after - a.before)).map((t) => (
                      <tr key={t.taskKey} tabIndex={0} className={`clickable ${t.after > t.before ? 'up' : t.after < t.before ? 'down' : ''}`}
                        onClick={() => void state.openTask(t.taskKey)} onKeyDown={(e) => { if (e.key === 'Enter') void state.openTask(t.taskKey); }}>
                        <td>{t.taskKey}</td><td>{pct(t.before)}</td><td>{pct(t.after)}</td>
                      </tr>
                    ))}
                  </tbody>
                </table>
              )}
              {state.history && (
                <div className="history" data-testid="task-history">
                  <h3>{state.history.dataset}/{state.history.taskId}: its history</h3>
                  <p className="task-text">{state.history.text}</p>
                  <ul>
                    {state.history.runs.map((r) => (
                      <li key={`r${r.runId}`}>{r.purpose === 'evaluation' ? 'evaluation' : 'ILF'} run {r.runId}: model {r.modelId ?? 'import'}{r.adapterId !== null ? ` + adapter ${r.adapterId}` : ''} — {r.passed}/{r.samples} samples pass</li>
                    ))}
                    {state.history.feedback.map((f) => <li key={`f${f.id}`}>feedback by {f.author} ({f.source}): {f.text}</li>)}
                    {state.history.refinements.map((r) => (
                      <li key={`x${r.id}`}>{r.origin} refinement {r.id}: {r.passed === null ? 'untested' : r.passed ? 'passes' : 'fails'}{r.decision ? `, ${r.decision}` : ''}</li>
                    ))}
                  </ul>
                </div>
              )}
            </>
          )}
        </>
      )}
    </section>
  );
}
