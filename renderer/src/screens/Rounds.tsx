import { useEffect } from 'react';
import { useStore, type StoreApi } from 'zustand';
import type { IlfRunConfig } from '../../../preload/contract.js';
import type { RoundsState } from '../state/rounds.js';

/** Step 2 of the loop: sample programs (an ILF round starts here), with live progress and cancel. */
export function Rounds({ rounds }: { rounds: StoreApi<RoundsState> }) {
  const state = useStore(rounds);
  useEffect(() => {
    void rounds.getState().refresh();
    return rounds.getState().follow();
  }, [rounds]);
  const num = (key: 'n' | 'temperature' | 'maxTokens' | 'limit' | 'seed' | 'evalN', label: string, step = '1') => (
    <label>{label}
      <input aria-label={label} type="number" step={step} value={String(state.config[key] ?? '')}
        onChange={(e) => state.setConfig({ [key]: e.target.value === '' ? undefined : Number(e.target.value) })} />
    </label>
  );
  const splits = Object.keys(state.datasets.find((d) => d.name === state.config.dataset)?.splits ?? {});
  return (
    <section data-testid="rounds">
      <p className="step">Step 2 of the loop: sample programs from the model and test them. The round then waits for your feedback on the failures. Defaults are the paper's.</p>
      {state.error && <div role="alert" className="error">{state.error.message}{state.error.hint && <div className="hint">{state.error.hint}</div>}</div>}
      <div className="form">
        <label>model
          <select aria-label="model" value={state.modelId ?? ''} onChange={(e) => state.setModel(e.target.value ? Number(e.target.value) : null)}>
            {state.models.map((m) => <option key={m.id} value={m.id}>{m.name} ({m.quantization})</option>)}
          </select>
        </label>
        <label>dataset
          <select aria-label="dataset" value={state.config.dataset} onChange={(e) => state.setConfig({ dataset: e.target.value })}>
            {state.datasets.map((d) => <option key={d.name} value={d.name}>{d.name}</option>)}
          </select>
        </label>
        <label>split
          <select aria-label="split" value={state.config.split} onChange={(e) => state.setConfig({ split: e.target.value })}>
            {splits.map((s) => <option key={s} value={s}>{s}</option>)}
          </select>
        </label>
        {num('n', 'samples per task')}{num('temperature', 'temperature', '0.1')}{num('maxTokens', 'max tokens')}
        {num('limit', 'first N tasks')}{num('seed', 'seed')}
        <label>evaluate on
          <select aria-label="evaluation split" value={state.config.evalSplit} onChange={(e) => state.setConfig({ evalSplit: e.target.value })}>
            {splits.map((s) => <option key={s} value={s}>{s}</option>)}
          </select>
        </label>
        {num('evalN', 'evaluation samples per task')}
        <label>fine-tune epochs
          <input aria-label="fine-tune epochs" type="number" value={String(state.config.training.epochs ?? '')}
            onChange={(e) => state.setConfig({ training: { ...state.config.training, epochs: e.target.value === '' ? undefined : Number(e.target.value) } })} />
        </label>
        <label>fine-tune context
          <input aria-label="fine-tune context" type="number" step="16" value={String(state.config.training.contextSize ?? '')}
            onChange={(e) => state.setConfig({ training: { ...state.config.training, contextSize: e.target.value === '' ? undefined : Number(e.target.value) } })} />
        </label>
        <label>fine-tune learning rate
          <input aria-label="fine-tune learning rate" type="number" step="0.00001" value={String(state.config.training.learningRate ?? '')}
            onChange={(e) => state.setConfig({ training: { ...state.config.training, learningRate: e.target.value === '' ? undefined : Number(e.target.value) } })} />
        </label>
        <label>feedback
          <select aria-label="feedback source" value={state.config.feedbackSource} onChange={(e) => state.setConfig({ feedbackSource: e.target.value as IlfRunConfig['feedbackSource'] })}>
            <option value="human">human (you)</option><option value="execution">execution</option><option value="shuffled-control">shuffled control</option>
          </select>
        </label>
      </div>
      <p className="nav"><button type="button" onClick={() => void state.start()} disabled={state.models.length === 0}>start sampling</button></p>
      {state.rounds.length > 0 && (
        <table data-testid="rounds-table">
          <thead><tr><th>round</th><th>step</th><th>status</th><th>progress</th><th /></tr></thead>
          <tbody>
            {state.rounds.map((r) => (
              <tr key={r.id}>
                <td>#{r.id} (round {r.round})</td><td>{r.step}</td><td>{r.status}</td>
                <td>{r.status === 'running' ? state.progress[r.id]?.text ?? '' : r.message ?? ''}</td>
                <td>
                  {r.status === 'running' && <button type="button" onClick={() => void state.cancel(r.id)}>cancel</button>}
                  {(r.status === 'waiting' || r.status === 'cancelled' || r.status === 'failed') && <button type="button" onClick={() => void state.resume(r.id)}>resume</button>}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}
