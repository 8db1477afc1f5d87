import { createRoot } from 'react-dom/client';
import type { BridgeApi } from '../../preload/contract.js';
import { createClient } from './api/client.js';
import { createCatalogStore } from './state/catalog.js';
import { App } from './App.js';
import './styles.css';

declare global {
  interface Window {
    /** Set by the preload (Electron) or the server transport (browsers). */
    ilf?: BridgeApi;
  }
}

const root = createRoot(document.getElementById('root') as HTMLElement);
if (!window.ilf) {
  root.render(<p role="alert">ILF Studio's bridge is missing: open this page through the app (npm start).</p>);
} else {
  const api = createClient(window.ilf);
  root.render(<App catalog={createCatalogStore(api)} />);
}
