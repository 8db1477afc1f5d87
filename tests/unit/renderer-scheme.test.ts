import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { rendererFileFor, serveRendererRequest } from '../../main/app/renderer-scheme.js';
import { CONTENT_SECURITY_POLICY } from '../../main/files/renderer-files.js';
import { tempDir } from '../helpers/fs.js';

/** A renderer folder as vite builds it, with a secret beside it that no URL may reach. */
function rendererFolder(): { root: string; secret: string } {
  const parent = tempDir();
  const root = path.join(parent, 'renderer');
  fs.mkdirSync(path.join(root, 'assets'), { recursive: true });
  fs.writeFileSync(path.join(root, 'index.html'), '<!doctype html><title>ILF Studio</title>');
  fs.writeFileSync(path.join(root, 'assets', 'index-abc.js'), 'export const x = 1;');
  fs.writeFileSync(path.join(root, 'assets', 'index-abc.css'), 'body{}');
  fs.writeFileSync(path.join(root, 'assets', 'codicon-1.ttf'), Buffer.from([0, 1, 0, 0]));
  fs.writeFileSync(path.join(root, 'assets', 'notes.txt'), 'no type of ours');
  const secret = path.join(parent, 'secret.txt');
  fs.writeFileSync(secret, 'private key');
  fs.mkdirSync(path.join(parent, 'renderer-evil'));
  fs.writeFileSync(path.join(parent, 'renderer-evil', 'x.js'), 'steal()');
  return { root, secret };
}

const get = (root: string, url: string, method = 'GET'): Promise<Response> => serveRendererRequest(root, new Request(url, { method }));

describe('the app:// scheme handler', () => {
  it('serves the page and its assets with their MIME types and the CSP header; a fragment or query changes nothing', async () => {
    const { root } = rendererFolder();
    for (const [url, type] of [
      ['app://ilf/index.html', 'text/html; charset=utf-8'],
      ['app://ilf/', 'text/html; charset=utf-8'],
      ['app://ilf/index.html?x=1', 'text/html; charset=utf-8'],
      ['app://ilf/assets/index-abc.js', 'text/javascript; charset=utf-8'],
      ['app://ilf/assets/index-abc.css', 'text/css; charset=utf-8'],
      ['app://ilf/assets/codicon-1.ttf', 'font/ttf'],
    ] as const) {
      const res = await get(root, url);
      expect(res.status, url).toBe(200);
      expect(res.headers.get('content-type'), url).toBe(type);
      expect(res.headers.get('content-security-policy')).toBe(CONTENT_SECURITY_POLICY);
      expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    }
    expect(await (await get(root, 'app://ilf/assets/index-abc.js')).text()).toBe('export const x = 1;');
    const head = await get(root, 'app://ilf/index.html', 'HEAD');
    expect(head.status).toBe(200);
    expect(await head.text()).toBe('');
  });

  it('the CSP allows no remote code, no eval and no framing', () => {
    expect(CONTENT_SECURITY_POLICY).toMatch(/default-src 'none'/);
    expect(CONTENT_SECURITY_POLICY).toMatch(/script-src 'self'(;|$)/);
    expect(CONTENT_SECURITY_POLICY).not.toMatch(/unsafe-eval|https?:|\*/);
    expect(CONTENT_SECURITY_POLICY).toMatch(/frame-ancestors 'none'/);
  });

  it('never reads outside the renderer folder: traversal, encoded separators, sibling folders, symlinks', async () => {
    const { root, secret } = rendererFolder();
    fs.symlinkSync(secret, path.join(root, 'assets', 'link.js'));
    for (const url of [
      'app://ilf/../secret.txt',
      'app://ilf/%2e%2e/secret.txt',
      'app://ilf/%2e%2e%2fsecret.txt',
      'app://ilf/assets/%2e%2e%2f%2e%2e%2fsecret.txt',
      'app://ilf/..%5csecret.txt',
      'app://ilf/%2e%2e%2frenderer-evil/x.js',
      `app://ilf/${encodeURIComponent(secret)}`,
      'app://ilf/assets/link.js',
      'app://ilf/assets/index-abc.js%00.html',
      'app://ilf/%E0%A4%A',
    ]) {
      const res = await get(root, url);
      expect(res.status, url).toBe(404);
      expect(await res.text(), url).not.toMatch(/private key|steal/);
    }
    expect(rendererFileFor(root, 'app://ilf/%2e%2e%2fsecret.txt')).toBeNull();
  });

  it('serves only our host, known file types, existing files, and only reads', async () => {
    const { root } = rendererFolder();
    expect((await get(root, 'app://evil/index.html')).status).toBe(404);
    // fetch's Request refuses user info itself; the resolver does too.
    expect(rendererFileFor(root, 'app://ilf@evil/index.html')).toBeNull();
    expect(rendererFileFor(root, 'app://evil@ilf/index.html')).toBeNull();
    expect(rendererFileFor(root, 'app://ilf/index.html')).toBe(path.join(root, 'index.html'));
    expect((await get(root, 'app://ilf:81/index.html')).status).toBe(404);
    expect((await get(root, 'app://ilf/assets/notes.txt')).status).toBe(404);
    expect((await get(root, 'app://ilf/missing.js')).status).toBe(404);
    expect((await get(root, 'app://ilf/assets/')).status).toBe(404);
    expect((await get(root, 'app://ilf/index.html', 'POST')).status).toBe(405);
  });
});
