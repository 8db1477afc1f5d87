/**
 * Electron main: thin on purpose. It owns the window and its security settings, serves the renderer
 * from the app's own scheme, starts and stops the service process (which owns the store, the model,
 * the sandboxes, training and rounds), and hands a MessagePort to the services to the trusted
 * renderer. No request is handled here.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { app, BrowserWindow, dialog, ipcMain, MessageChannelMain, protocol, session, utilityProcess, type MessagePortMain } from 'electron';
import { defaultDataDir, resolveDataDir } from '../config/paths.js';
import { describeError } from '../errors.js';
import { registerIpc } from './ipc.js';
import { electronSqliteBinding } from './native-binding.js';
import { serveRendererRequest } from './renderer-scheme.js';
import { SERVICE_ENTRY, ServiceProcess, serviceArgs, serviceEnv } from './service-protocol.js';
import { APP_SCHEME, RENDERER_URL } from './trusted-frame.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const distRoot = path.resolve(here, '..', '..');
const rendererDir = path.join(distRoot, 'renderer');
const preloadFile = path.join(distRoot, 'preload', 'index.cjs');

// Before `ready`: app:// is a standard scheme (an origin of its own, relative URLs), secure (as
// https is), and may be fetched (module scripts, the Monaco worker). No CSP bypass.
protocol.registerSchemesAsPrivileged([{ scheme: APP_SCHEME, privileges: { standard: true, secure: true, supportFetchAPI: true, codeCache: true } }]);

/** Every web contents, now and later: no navigation away, no popups, no webviews, no permissions. */
function lockDown(): void {
  app.on('web-contents-created', (_event, contents) => {
    contents.on('will-navigate', (event) => event.preventDefault()); // the renderer's #screen changes are not navigations
    contents.on('will-attach-webview', (event) => event.preventDefault());
    contents.setWindowOpenHandler(() => ({ action: 'deny' }));
  });
  session.defaultSession.setPermissionRequestHandler((_contents, _permission, callback) => callback(false));
  session.defaultSession.setPermissionCheckHandler(() => false);
}

function startServices(dataDir: string): ServiceProcess<MessagePortMain> {
  const child = utilityProcess.fork(SERVICE_ENTRY, serviceArgs({
    dataDir,
    sqliteBinding: electronSqliteBinding(app.getAppPath(), process.resourcesPath, app.isPackaged),
  }), { env: serviceEnv(process.env), serviceName: 'ILF Studio services', stdio: 'inherit' });
  return new ServiceProcess<MessagePortMain>({
    postMessage: (message, transfer) => child.postMessage(message, transfer),
    onMessage: (listener) => child.on('message', listener),
    onExit: (listener) => child.on('exit', listener),
    kill: () => { child.kill(); },
  });
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
      nodeIntegrationInSubFrames: false,
      webSecurity: true,
      spellcheck: false,
    },
  });
  win.once('ready-to-show', () => win.show());
  void win.loadURL(RENDERER_URL);
  return win;
}

async function start(): Promise<void> {
  app.setPath('userData', defaultDataDir());
  await app.whenReady();
  lockDown();
  protocol.handle(APP_SCHEME, (request) => serveRendererRequest(rendererDir, request));

  const services = startServices(resolveDataDir(undefined));
  await services.ready; // a store that cannot open stops the start here, with its reason
  const unregister = registerIpc(ipcMain, () => {
    const { port1, port2 } = new MessageChannelMain();
    services.connect(port1);
    return port2;
  });
  createWindow();

  let quitting = false;
  app.on('window-all-closed', () => app.quit());
  app.on('will-quit', (event) => {
    if (quitting) return;
    // Services first: a round or a training run stops cleanly (checkpointed, resumable), the store closes.
    quitting = true;
    event.preventDefault();
    unregister();
    void services.dispose().finally(() => app.quit());
  });
  void services.exited.then((code) => {
    if (quitting) return;
    quitting = true;
    dialog.showErrorBox('ILF Studio stopped', `its services ended unexpectedly (exit code ${code ?? 'none'}); your work is saved: start ILF Studio again`);
    app.quit();
  });
}

start().catch((e: unknown) => {
  dialog.showErrorBox('ILF Studio could not start', describeError(e));
  app.exit(1);
});
