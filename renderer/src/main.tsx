import { createRoot } from 'react-dom/client';
import type { BridgeApi } from '../../preload/contract.js';
import { createClient } from './api/client.js';
import { createWsBridge, serverApiUrl } from './api/ws-bridge.js';
import { createCatalogStore } from './state/catalog.js';
import { createInboxStore } from './state/inbox.js';
import { createReviewStore } from './state/review.js';
import { createFinetuneStore } from './state/finetune.js';
import { createEvaluateStore } from './state/evaluate.js';
import { createRoundsStore } from './state/rounds.js';
import { createSetupStore } from './state/setup.js';
import { App } from './App.js';
import './styles.css';

declare global {
  interface Window {
    /** Set by the preload (Electron) or the server transport (browsers). */
    ilf?: BridgeApi;
  }
}

const root = createRoot(document.getElementById('root') as HTMLElement);
// In Electron the preload provides the bridge; served over HTTP (`ilf serve`), a WebSocket does.
const bridge = window.ilf ?? (location.protocol.startsWith('http') ? createWsBridge(serverApiUrl(location)) : undefined);
if (!bridge) {
  root.render(<p role="alert">ILF Studio's bridge is missing: open this page through the app (npm start) or `ilf serve`.</p>);
} else {
  const api = createClient(bridge);
  // One name per person, for the feedback they write and the reviews they make.
  const name = { load: () => localStorage.getItem('ilf.author') ?? '', store: (n: string) => localStorage.setItem('ilf.author', n) };
  root.render(<App api={api} setup={createSetupStore(api)} catalog={createCatalogStore(api)} rounds={createRoundsStore(api)} inbox={createInboxStore(api, name)} review={createReviewStore(api, name)} finetune={createFinetuneStore(api)} evaluate={createEvaluateStore(api)} storage={localStorage} />);
}
