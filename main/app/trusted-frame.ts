/**
 * Which frames may talk to the services. Pure (no Electron import), so it is unit-tested on the URL
 * shapes Chromium really reports. The renderer is served from its own privileged scheme
 * (`app://ilf/…`, see renderer-scheme.ts), so trust is a matter of origin: the scheme and host of the
 * frame's URL, never the full URL — the renderer writes its screen into the fragment (`#setup`) and
 * may load other files of its own origin.
 */
export const APP_SCHEME = 'app';
export const APP_HOST = 'ilf';
export const APP_ORIGIN = `${APP_SCHEME}://${APP_HOST}`;
/** Where the window opens. */
export const RENDERER_URL = `${APP_ORIGIN}/index.html`;

/** The part of Electron's WebFrameMain the check reads. */
export interface FrameLike {
  readonly url: string;
  /** Set by Chromium (RFC 6454 serialisation); absent in older Electron versions. */
  readonly origin?: string;
  /** null for the top frame of a window. */
  readonly parent: unknown;
}

/**
 * True only for the top frame of a page of our own origin. Refused: a null frame (the sender is
 * gone), any subframe, another scheme (file:, http:, data:, about:blank's empty URL), another host
 * of our scheme (`app://evil/`), a port, and user info (`app://ilf@evil/`, `app://evil@ilf/`): our
 * own URLs never carry either, so a URL that does was not made by us.
 */
export function isTrustedFrame(frame: FrameLike | null | undefined): boolean {
  if (!frame || frame.parent !== null) return false;
  let url: URL;
  try {
    url = new URL(frame.url);
  } catch {
    return false;
  }
  if (url.protocol !== `${APP_SCHEME}:` || url.hostname !== APP_HOST || url.port !== '' || url.username !== '' || url.password !== '') return false;
  // Chromium's own view of the origin, when Electron gives it, must agree (an opaque origin is "null").
  return frame.origin === undefined || frame.origin === APP_ORIGIN;
}
