import { useEffect, useState } from 'react';
import { useStore, type StoreApi } from 'zustand';
import { downloadFraction, type SetupState } from '../state/setup.js';

const mb = (n: number): string => `${(n / 1e6).toFixed(1)} MB`;

/** Step 0: the machine and the models, before the loop starts. */
export function Setup({ setup }: { setup: StoreApi<SetupState> }) {
  const state = useStore(setup);
  const [file, setFile] = useState('');
  const [ref, setRef] = useState('');
  const [endpoint, setEndpoint] = useState({ url: '', servedModel: '', apiKeyEnv: '', maxConcurrency: '4' });
  useEffect(() => {
    void setup.getState().refresh();
    return setup.getState().follow();
  }, [setup]);
  const hw = state.hardware;
  return (
    <section data-testid="setup">
      <p className="step">Before the loop: where models run, and which model to improve. Next: tasks, then sampling.</p>
      {state.error && <div role="alert" className="error">{state.error.message}{state.error.hint && <div className="hint">{state.error.hint}</div>}</div>}
      <h3>Hardware</h3>
      {hw ? (
        <div data-testid="hardware">
          <p>llama.cpp runs on <b>{hw.backend}</b>{hw.devices.length > 0 ? ` (${hw.devices.join(', ')})` : ''}; {hw.threads} CPU threads of {hw.cpu.physicalCores} physical cores;
            {hw.vram ? ` VRAM ${mb(hw.vram.freeBytes)} free of ${mb(hw.vram.totalBytes)}` : ' no GPU memory'}.</p>
          {/* Sampling and training use different llama.cpp builds: an NVIDIA GPU samples with CUDA but trains through Vulkan. */}
          <table data-testid="compute">
            <thead><tr><th /><th>runs on</th><th>devices</th><th>on {hw.platform} it can use</th></tr></thead>
            <tbody>
              <tr><th scope="row">sampling</th><td><b>{hw.backend}</b></td><td>{hw.devices.join(', ') || 'CPU'}</td><td>{hw.available.join(', ')}</td></tr>
              <tr><th scope="row">training</th><td><b>{hw.training.backend ?? 'unknown'}</b></td><td>{hw.training.devices.join(', ') || '—'}</td><td>{hw.training.shipped.join(', ')}</td></tr>
            </tbody>
          </table>
          {hw.warnings.map((w) => <p key={w} role="alert" className="error">{w}</p>)}
        </div>
      ) : <button type="button" onClick={() => void state.detectHardware()}>detect hardware</button>}
      <h3>Models</h3>
      {state.models.length === 0 ? <p className="empty">No model yet: add a GGUF file you have, an OpenAI-compatible endpoint, or download one below.</p> : (
        <table data-testid="models">
          <thead><tr><th>id</th><th>name</th><th>quantization</th><th>size</th><th>trainable</th><th>supports</th></tr></thead>
          <tbody>{state.models.map((m) => m.endpoint ? (
            <tr key={m.id}><td>{m.id}</td><td>{m.name}</td><td>endpoint</td>
              <td>{m.endpoint.url}, up to {m.endpoint.maxConcurrency} at a time{m.endpoint.apiKeyEnv ? `, key from $${m.endpoint.apiKeyEnv}` : ''}</td><td>no (remote)</td><td>{m.support}</td></tr>
          ) : <tr key={m.id}><td>{m.id}</td><td>{m.name}</td><td>{m.quantization}</td><td>{mb(m.sizeBytes)}</td><td>{m.trainable ? 'yes' : 'no'}</td><td>{m.support}</td></tr>)}</tbody>
        </table>
      )}
      <form className="filters" onSubmit={(e) => { e.preventDefault(); if (file.trim()) void state.addFile(file.trim()); }}>
        <input aria-label="model file" placeholder="path of a .gguf file" value={file} onChange={(e) => setFile(e.target.value)} size={50} />
        <button type="submit">add</button>
      </form>
      <form className="filters" data-testid="add-endpoint" onSubmit={(e) => {
        e.preventDefault();
        const concurrency = Number(endpoint.maxConcurrency);
        if (!endpoint.url.trim() || !endpoint.servedModel.trim()) return;
        void state.addEndpoint({
          url: endpoint.url.trim(), servedModel: endpoint.servedModel.trim(),
          ...(endpoint.apiKeyEnv.trim() ? { apiKeyEnv: endpoint.apiKeyEnv.trim() } : {}),
          ...(Number.isInteger(concurrency) && concurrency > 0 ? { maxConcurrency: concurrency } : {}),
        });
      }}>
        <input aria-label="endpoint URL" placeholder="OpenAI-compatible server: http://127.0.0.1:8080" value={endpoint.url} onChange={(e) => setEndpoint({ ...endpoint, url: e.target.value })} size={30} />
        <input aria-label="served model" placeholder="model name it serves" value={endpoint.servedModel} onChange={(e) => setEndpoint({ ...endpoint, servedModel: e.target.value })} size={16} />
        <input aria-label="API key variable" placeholder="API key env var (optional)" title="the name of an environment variable holding the key; the key itself is never stored"
          value={endpoint.apiKeyEnv} onChange={(e) => setEndpoint({ ...endpoint, apiKeyEnv: e.target.value })} size={16} />
        <input aria-label="max concurrency" type="number" min={1} max={1024} value={endpoint.maxConcurrency} onChange={(e) => setEndpoint({ ...endpoint, maxConcurrency: e.target.value })} style={{ width: '4em' }} />
        <button type="submit">add endpoint</button>
      </form>
      <form className="filters" onSubmit={(e) => { e.preventDefault(); if (ref.trim()) void state.download(ref.trim()); }}>
        <input aria-label="download" placeholder="hf:OWNER/REPO/FILE.gguf or https://…" value={ref} onChange={(e) => setRef(e.target.value)} size={50} />
        <button type="submit">download</button>
      </form>
      {Object.values(state.downloads).map((d) => {
        const fraction = downloadFraction(d);
        return (
          <div key={d.downloadId} className="download" data-testid={`download-${d.downloadId}`}>
            <span>{d.ref}: {d.state}</span>{' '}
            <progress value={fraction ?? undefined} max={1} />{' '}
            <span>{mb(d.bytes)}{d.totalBytes ? ` of ${mb(d.totalBytes)}` : ''}{d.state === 'downloading' && d.etaSeconds !== null ? `, ~${Math.ceil(d.etaSeconds)} s left` : ''}</span>
            {d.error && <span className="error"> {d.error}</span>}
            {d.state === 'downloading' && <button type="button" onClick={() => void state.cancel(d.downloadId)}>cancel</button>}
          </div>
        );
      })}
      {state.recommended.length > 0 && (
        <>
          <h3>Recommended code models</h3>
          <table>
            <thead><tr><th>name</th><th>size</th><th>licence</th><th>trainable</th><th>checked</th><th /></tr></thead>
            <tbody>{state.recommended.map((r) => (
              <tr key={r.ref}><td>{r.name}<div className="hint">{r.note}</div></td><td>{mb(r.sizeBytes)}</td><td>{r.licence}</td><td>{r.trainable ? 'yes' : 'no'}</td>
                <td title={r.sha256 ?? 'no published hash: the download is not checked against one'}>{r.sha256 ? 'sha256 pinned' : 'unpinned'}</td>
                <td><button type="button" onClick={() => void state.download(r.ref)}>download</button></td></tr>
            ))}</tbody>
          </table>
        </>
      )}
    </section>
  );
}
