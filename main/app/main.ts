/**
 * Electron main: one window, locked down; all state and work stay in this process and its children.
 * Kept thin on purpose: everything it calls is the same service layer the CLI and tests use.
 */
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { app, BrowserWindow, dialog, ipcMain, session, type WebFrameMain } from 'electron';
import { databasePath, defaultDataDir, resolveDataDir } from '../config/paths.js';
import { appVersion } from '../config/version.js';
import { describeError } from '../errors.js';
import { createHandlers } from '../services/handlers.js';
import { Store } from '../store/store.js';
import { LlamaRuntime } from '../models/runtime.js';
import { electronSqliteBinding } from './native-binding.js';
import { emitterFor, registerIpc } from './ipc.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const distRoot = path.resolve(here, '..', '..');
const rendererIndex = path.join(distRoot, 'renderer', 'index.html');
const preloadFile = path.join(distRoot, 'preload', 'index.cjs');
const rendererUrl = pathToFileURL(rendererIndex).href;

let mainWindow: BrowserWindow | undefined;

function isTrustedFrame(frame: WebFrameMain | null): boolean {
  return frame !== null && frame.parent === null && frame.url === rendererUrl;
}

function createWindow(): BrowserWindow {
  const win = new BrowserWindow({
    width: 1280,
    height: 820,
    title: 'ILF Studio',
    show: false,
    webPreferences: {
      preload: preloadFile,
      contextIsolation: true,
      sandbox: true,
      nodeIntegration: false,
      webSecurity: true,
      spellcheck: false,
    },
  });
  win.webContents.on('will-navigate', (event) => event.preventDefault());
  win.webContents.setWindowOpenHandler(() => ({ action: 'deny' }));
  win.once('ready-to-show', () => win.show());
  void win.loadFile(rendererIndex);
  return win;
}

async function start(): Promise<void> {
  app.setPath('userData', defaultDataDir());
  await app.whenReady();
  session.defaultSession.setPermissionRequestHandler((_wc, _permission, callback) => callback(false));

  const dataDir = resolveDataDir(undefined);
  const store = Store.open(databasePath(dataDir), {
    nativeBinding: electronSqliteBinding(app.getAppPath(), process.resourcesPath, app.isPackaged),
  });
  // Sampling itself should move to a utility process started with UV_THREADPOOL_SIZE=1 (see runtime.ts).
  const runtime = new LlamaRuntime();
  const handlers = createHandlers({
    store,
    dataDir,
    version: appVersion(),
    emit: emitterFor(() => mainWindow?.webContents),
    runtime: () => runtime,
  });
  const unregister = registerIpc(ipcMain, handlers, isTrustedFrame);

  mainWindow = createWindow();
  app.on('window-all-closed', () => app.quit());
  app.on('will-quit', () => {
    unregister();
    void runtime.dispose();
    store.close();
  });
}

start().catch((e: unknown) => {
  dialog.showErrorBox('ILF Studio could not start', describeError(e));
  app.exit(1);
});
