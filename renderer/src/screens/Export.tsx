import { useState } from 'react';
import type { RequestInput } from '../../../preload/contract.js';
import { ApiError, type ApiClient } from '../api/client.js';

type Kind = 'training-set' | 'samples' | 'feedback' | 'evaluation';

const FORMATS: Record<Kind, readonly string[]> = {
  'training-set': ['messages', 'prompt-completion'], samples: [], feedback: [], evaluation: ['json', 'csv'],
};

/** What a kind of export needs, as the request the contract takes. */
export function exportRequest(kind: Kind, id: number, format: string, file: string): RequestInput<'exports.write'> {
  switch (kind) {
    case 'training-set': return { kind, id, format: format === 'prompt-completion' ? 'prompt-completion' : 'messages', file };
    case 'samples': return { kind, runId: id, file };
    case 'feedback': return id > 0 ? { kind, runId: id, file } : { kind, file };
    case 'evaluation': return { kind, id, format: format === 'csv' ? 'csv' : 'json', file };
  }
}

/** Files for other tools: training sets, samples for EvalPlus, feedback with lineage, evaluation reports. */
export function Export({ api }: { api: ApiClient }) {
  const [kind, setKind] = useState<Kind>('training-set');
  const [id, setId] = useState('');
  const [format, setFormat] = useState('messages');
  const [file, setFile] = useState('training-set.jsonl');
  const [result, setResult] = useState<{ ok: boolean; text: string } | null>(null);
  const submit = async (): Promise<void> => {
    try {
      const r = await api.call('exports.write', exportRequest(kind, Number(id) || 0, format, file));
      setResult({ ok: true, text: `wrote ${r.rows} rows to ${r.file}` });
    } catch (e) {
      setResult({ ok: false, text: e instanceof ApiError ? `${e.message}${e.hint ? ` — ${e.hint}` : ''}` : String(e) });
    }
  };
  return (
    <section data-testid="export">
      <p className="step">Export: the training set (chat messages or prompt/completion), samples for human-eval/EvalPlus, feedback with its lineage, evaluation reports. Files go to the data folder's exports/.</p>
      <form className="filters" onSubmit={(e) => { e.preventDefault(); void submit(); }}>
        <select aria-label="what" value={kind} onChange={(e) => {
          const k = e.target.value as Kind;
          setKind(k);
          setFormat(FORMATS[k][0] ?? '');
          setFile(`${k}.${k === 'evaluation' ? 'json' : 'jsonl'}`);
        }}>
          <option value="training-set">training set</option><option value="samples">samples (EvalPlus)</option>
          <option value="feedback">feedback with lineage</option><option value="evaluation">evaluation report</option>
        </select>
        <input aria-label="id" placeholder={kind === 'samples' || kind === 'feedback' ? 'sampling run id' : 'id'} value={id} onChange={(e) => setId(e.target.value)} size={8} />
        {FORMATS[kind].length > 0 && (
          <select aria-label="export format" value={format} onChange={(e) => setFormat(e.target.value)}>
            {FORMATS[kind].map((f) => <option key={f} value={f}>{f}</option>)}
          </select>
        )}
        <input aria-label="file name" value={file} onChange={(e) => setFile(e.target.value)} />
        <button type="submit">export</button>
      </form>
      {result && <div data-testid="export-result" role={result.ok ? 'status' : 'alert'} className={result.ok ? 'done' : 'error'}>{result.text}</div>}
    </section>
  );
}
