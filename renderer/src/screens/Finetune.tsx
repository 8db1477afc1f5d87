import { useEffect, useState } from 'react';
import { useStore, type StoreApi } from 'zustand';
import type { TrainingConfig } from '../../../preload/contract.js';
import { chartPoints, type FinetuneState } from '../state/finetune.js';

const W = 560;
const H = 180;

/** Step 6 of the loop: a LoRA fine-tune on the accepted refinements, watched live. */
export function Finetune({ finetune }: { finetune: StoreApi<FinetuneState> }) {
  const state = useStore(finetune);
  const [name, setName] = useState('accepted refinements');
  useEffect(() => {
    void finetune.getState().refresh();
    return finetune.getState().follow();
  }, [finetune]);
  const run = state.run;
  const running = run?.status === 'running' || run?.status === 'pending';
  const field = (key: keyof TrainingConfig, label: string, step: string) => (
    <label>{label}
      <input aria-label={label} type="number" step={step} value={String(state.config[key] ?? '')}
        onChange={(e) => state.setConfig({ [key]: e.target.value === '' ? undefined : Number(e.target.value) })} />
    </label>
  );
  const train = chartPoints(state.metrics, 'train', W, H, run?.totalSteps ?? null);
  const validation = chartPoints(state.metrics, 'validation', W, H, run?.totalSteps ?? null);
  const last = state.metrics.filter((m) => m.phase === 'train').at(-1);
  return (
    <section data-testid="finetune">
      <p className="step">Step 6 of the loop: fine-tune a LoRA adapter on the accepted refinements, on this machine. Next: evaluate before vs after.</p>
      {state.error && <div role="alert" className="error">{state.error.message}{state.error.hint && <div className="hint">{state.error.hint}</div>}</div>}
      <div className="columns">
        <div>
          <h3>Training set</h3>
          <select aria-label="training set" value={state.setId ?? ''} onChange={(e) => state.choose({ setId: e.target.value ? Number(e.target.value) : null })}>
            <option value="">choose…</option>
            {state.sets.map((s) => <option key={s.id} value={s.id}>{s.name} ({s.sourcePath ? 'from a file' : `${s.examples} examples`})</option>)}
          </select>
          <p>
            <input aria-label="new set name" value={name} onChange={(e) => setName(e.target.value)} />
            <button type="button" onClick={() => void state.buildSet(name)}>build from accepted refinements</button>
          </p>
          {state.rows.length > 0 && (
            <details data-testid="training-rows">
              <summary>{state.rows.length} examples — where each came from</summary>
              <table>
                <thead><tr><th>task</th><th>sample</th><th>feedback by</th><th>refinement</th><th>review</th></tr></thead>
                <tbody>{state.rows.map((r) => (
                  <tr key={r.exampleId} title={r.completion}>
                    <td>{r.lineage.dataset}/{r.lineage.taskId}</td><td>#{r.lineage.sampleId}</td><td>{r.lineage.feedbackAuthor} (#{r.lineage.feedbackId})</td>
                    <td>#{r.lineage.refinementId}</td><td>#{r.lineage.reviewId}</td>
                  </tr>
                ))}</tbody>
              </table>
            </details>
          )}
          <h3>Model and settings</h3>
          <select aria-label="model" value={state.modelId ?? ''} onChange={(e) => state.choose({ modelId: e.target.value ? Number(e.target.value) : null })}>
            {state.models.length === 0 && <option value="">no trainable model: add an F16/BF16/Q8_0/Q4_0/F32 GGUF</option>}
            {state.models.map((m) => <option key={m.id} value={m.id}>{m.name} ({m.quantization})</option>)}
          </select>
          <div className="form">
            {field('rank', 'rank', '1')}{field('alpha', 'alpha', '1')}{field('learningRate', 'learning rate', '0.00001')}
            {field('epochs', 'epochs', '1')}{field('contextSize', 'context', '16')}{field('validationFraction', 'validation fraction', '0.05')}
          </div>
          <p className="nav">
            <button type="button" disabled={running} onClick={() => void state.start()}>start</button>
            <button type="button" disabled={!running} onClick={() => void state.stop()}>stop</button>
            <button type="button" disabled={running || !run || run.status === 'completed'} onClick={() => void state.resume()}>resume</button>
          </p>
        </div>
        <div>
          <h3>Run {run ? `${run.id}: ${run.status}` : ''}</h3>
          {run && <p data-testid="run-status">step {run.step}/{run.totalSteps ?? '?'}{last ? ` · loss ${last.loss.toFixed(3)}` : ''}{run.adapterId !== null ? ` · adapter ${run.adapterId}` : ''}</p>}
          <svg role="img" aria-label="loss chart" width={W} height={H} viewBox={`0 0 ${W} ${H}`} className="chart">
            <polyline data-testid="train-loss" points={train} fill="none" stroke="currentColor" strokeWidth="1.5" />
            <polyline data-testid="validation-loss" points={validation} fill="none" stroke="#d60" strokeWidth="1.5" strokeDasharray="4 3" />
          </svg>
          {state.progress && state.progress.runId === run?.id && state.progress.tokensPerS !== null && (
            <p data-testid="run-speed">{Math.round(state.progress.tokensPerS)} useful tok/s
              {state.progress.computedTokensPerS !== null ? ` · ${Math.round(state.progress.computedTokensPerS)} computed tok/s (padding included)` : ''}</p>
          )}
          {run?.dataReport?.computedTokensPerEpoch !== undefined && run.dataReport.usefulTokensPerEpoch !== undefined && (
            <p data-testid="run-groups">{run.dataReport.groups?.length ?? 1} length group{run.dataReport.groups?.length === 1 ? '' : 's'}
              {' '}({run.dataReport.groups?.map((g) => `${g.examples}×${g.context}`).join(', ')} tokens) · {run.dataReport.usefulTokensPerEpoch} of{' '}
              {run.dataReport.computedTokensPerEpoch} computed tokens per epoch are the rows' own</p>
          )}
          {run?.dataReport && run.dataReport.tooLong.count > 0 && (
            <div role="status" className="warning" data-testid="too-long">
              {run.dataReport.tooLong.count} row{run.dataReport.tooLong.count === 1 ? ' is' : 's are'} longer than {run.dataReport.limit} tokens and
              {' '}left out of training: {run.dataReport.tooLong.rows.map((r) => `${r.ref} (${r.tokens} tokens)`).join(', ')}.
              <div className="hint">Raise the context (up to the model's own) to keep them.</div>
            </div>
          )}
          {run?.error && <div role="alert" className="error">{run.error}</div>}
          {run?.logTail && <pre className="traceback" data-testid="log">{run.logTail}</pre>}
        </div>
      </div>
    </section>
  );
}
