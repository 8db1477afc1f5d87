import { appVersion, rendererDistDir } from '../../config/version.js';
import { isLoopback, startServer } from '../../server/server.js';
import { createHandlers, type ServiceHandlers } from '../../services/handlers.js';
import { numberOption, stringOption, type CommandContext } from '../context.js';

/** `ilf serve`: the app in a browser, for headless GPU boxes and labs; runs until Ctrl-C. */
export async function serveCommand(ctx: CommandContext): Promise<number> {
  const host = stringOption(ctx, 'host') ?? '127.0.0.1';
  let services: ServiceHandlers | undefined;
  const server = await startServer({
    host,
    port: numberOption(ctx.values, 'port', 7860, { integer: true, min: 0, max: 65535 }),
    token: stringOption(ctx, 'token'),
    rendererDir: rendererDistDir(),
    handlersFor: (emit) => (services = createHandlers({
      store: ctx.store(), dataDir: ctx.dataDir, version: appVersion(), emit, runtime: ctx.runtime,
      ...(isLoopback(host) ? {} : { fileRoot: ctx.dataDir }),
    })),
  });
  // The token is part of every address: without it the page gets no data, on loopback too.
  const lead = 'ILF Studio is at ';
  ctx.io.stdout(`${lead}${server.url}\n` +
    server.urls.slice(1).map((u) => `${' '.repeat(lead.length)}${u}\n`).join('') +
    (isLoopback(host) ? 'only this machine can reach it; --host 0.0.0.0 shares it on the network\n'
      : 'shared on the network: give people the whole address, token included\n') +
    'Ctrl-C stops it.\n');
  await new Promise<void>((resolve) => {
    if (!ctx.io.signal) return; // no way to be stopped: serve until the process ends
    if (ctx.io.signal.aborted) resolve();
    ctx.io.signal.addEventListener('abort', () => resolve(), { once: true });
  });
  await server.close();
  // Then what the requests started: a round, training, downloads, the sandbox pool (runCli closes the model and the store).
  await services?.[Symbol.asyncDispose]();
  return 0;
}
