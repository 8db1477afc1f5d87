import { describe, expect, it } from 'vitest';
import { APP_ORIGIN, RENDERER_URL, isTrustedFrame, type FrameLike } from '../../main/app/trusted-frame.js';

/** A top frame as Electron's WebFrameMain reports it: url, Chromium's origin, no parent. */
const top = (url: string, origin: string | undefined = APP_ORIGIN): FrameLike => ({ url, origin, parent: null });

describe('isTrustedFrame', () => {
  it('trusts the top frame of our origin whatever its path, query or fragment', () => {
    for (const url of [
      RENDERER_URL,
      'app://ilf/index.html#setup', // the renderer writes its screen into the fragment
      'app://ilf/index.html#failures',
      'app://ilf/index.html?token=x#review',
      'app://ilf/',
      'app://ilf/other.html', // another file of the same origin
    ]) expect(isTrustedFrame(top(url)), url).toBe(true);
    // Electron versions without frame.origin: the URL alone decides.
    expect(isTrustedFrame({ url: 'app://ilf/index.html#setup', parent: null })).toBe(true);
  });

  it('refuses a null frame and any subframe, even one of our own origin', () => {
    expect(isTrustedFrame(null)).toBe(false);
    expect(isTrustedFrame(undefined)).toBe(false);
    const parent = top(RENDERER_URL);
    expect(isTrustedFrame({ url: 'app://ilf/index.html#setup', origin: APP_ORIGIN, parent })).toBe(false);
  });

  it('refuses other schemes: the old file:// page, server mode, data:, about:blank, an empty URL', () => {
    for (const [url, origin] of [
      ['file:///opt/ILF%20Studio/resources/app.asar/dist/renderer/index.html#setup', 'file://'],
      ['file:///home/ada/ilf/dist/renderer/index.html', 'null'],
      ['http://127.0.0.1:7860/#setup', 'http://127.0.0.1:7860'],
      ['https://ilf/index.html', 'https://ilf'],
      ['data:text/html,<script>1</script>', 'null'],
      ['about:blank', APP_ORIGIN], // a popup inherits its opener's origin; its URL is not ours
      ['', APP_ORIGIN],
      ['not a url', APP_ORIGIN],
    ] as const) expect(isTrustedFrame(top(url, origin)), url).toBe(false);
  });

  it('refuses other hosts, ports and user-info tricks on our own scheme', () => {
    for (const url of [
      'app://evil/',
      'app://evil/index.html#setup',
      'app://ilf.evil/index.html',
      'app://ilf./index.html',
      'app://evilfl/index.html',
      'app://ilf:8080/index.html',
      'app://ilf@evil/index.html', // user "ilf" at host evil
      'app://evil@ilf/index.html', // our host, but with user info our URLs never carry
      'app://ilf:pw@ilf/index.html',
      'app:ilf/index.html',
      'app:///index.html',
    ]) expect(isTrustedFrame(top(url)), url).toBe(false);
  });

  it('refuses a frame whose URL looks like ours while Chromium says its origin is another (a sandboxed or opaque one)', () => {
    expect(isTrustedFrame(top('app://ilf/index.html', 'null'))).toBe(false);
    expect(isTrustedFrame(top('app://ilf/index.html', 'app://evil'))).toBe(false);
  });
});
