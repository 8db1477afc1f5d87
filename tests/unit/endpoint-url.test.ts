import { describe, expect, it } from 'vitest';
import { AppError } from '../../main/errors.js';
import { normalizeEndpointUrl } from '../../main/inference/endpoint.js';

describe('endpoint base URLs', () => {
  it('keeps scheme, host, port and path, without a trailing slash or /v1', () => {
    expect(normalizeEndpointUrl('http://127.0.0.1:8080')).toBe('http://127.0.0.1:8080');
    expect(normalizeEndpointUrl(' http://127.0.0.1:8080/v1/ ')).toBe('http://127.0.0.1:8080');
    expect(normalizeEndpointUrl('https://gpu.example.org/vllm/v1')).toBe('https://gpu.example.org/vllm');
  });

  it('refuses what is not an http(s) base URL, and credentials that would be stored', () => {
    for (const [url, why] of [
      ['localhost:8080', /not supported|not a URL/], ['file:///etc/passwd', /not supported/], ['not a url', /not a URL/],
      ['http://me:sk-123@host:8000', /credentials/], ['http://host:8000/v1?key=sk-1', /query or fragment/],
    ] as const) {
      let error: unknown;
      try {
        normalizeEndpointUrl(url);
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(AppError);
      expect((error as AppError).message).toMatch(why);
      expect((error as AppError).hint).toBeTruthy();
    }
  });
});
