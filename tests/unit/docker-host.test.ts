import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { resolveDockerTarget } from '../../main/sandbox/docker-host.js';
import { tempDir } from '../helpers/fs.js';

function certs(dir: string, tag: string): void {
  fs.mkdirSync(dir, { recursive: true });
  for (const f of ['ca', 'cert', 'key']) fs.writeFileSync(path.join(dir, `${f}.pem`), `${tag}-${f}`);
}

describe('which Docker daemon we talk to (as the docker CLI decides)', () => {
  it('DOCKER_HOST: unix:// is a socket, tcp:// is http, and with DOCKER_TLS_VERIFY https with DOCKER_CERT_PATH\'s files', () => {
    const home = tempDir();
    expect(resolveDockerTarget({ DOCKER_HOST: 'unix:///run/user/1000/docker.sock' }, home).options).toEqual({ socketPath: '/run/user/1000/docker.sock' });
    expect(resolveDockerTarget({ DOCKER_HOST: 'tcp://10.0.0.5:2375' }, home).options).toEqual({ protocol: 'http', host: '10.0.0.5', port: 2375 });
    const certDir = path.join(home, 'certs');
    certs(certDir, 'env');
    const tls = resolveDockerTarget({ DOCKER_HOST: 'tcp://gpu-box:2376', DOCKER_TLS_VERIFY: '1', DOCKER_CERT_PATH: certDir }, home).options;
    expect(tls).toMatchObject({ protocol: 'https', host: 'gpu-box', port: 2376 });
    expect([tls.ca, tls.cert, tls.key].map(String)).toEqual(['env-ca', 'env-cert', 'env-key']);
    expect(tls).not.toHaveProperty('rejectUnauthorized');
    expect(() => resolveDockerTarget({ DOCKER_HOST: 'tcp://gpu-box:2376', DOCKER_TLS_VERIFY: '1', DOCKER_CERT_PATH: path.join(home, 'none') }, home))
      .toThrow(/DOCKER_TLS_VERIFY is set but .* lacks ca\.pem, cert\.pem or key\.pem/);
    expect(() => resolveDockerTarget({ DOCKER_HOST: 'ftp://x' }, home)).toThrow(/uses ftp:, which we cannot speak/);
  });

  it('the current context from ~/.docker/config.json, with its TLS files; DOCKER_HOST wins over it; no context → the default socket', () => {
    const home = tempDir();
    const dir = path.join(home, '.docker');
    const id = createHash('sha256').update('cluster').digest('hex');
    fs.mkdirSync(path.join(dir, 'contexts', 'meta', id), { recursive: true });
    fs.writeFileSync(path.join(dir, 'contexts', 'meta', id, 'meta.json'), JSON.stringify({ Name: 'cluster', Endpoints: { docker: { Host: 'tcp://cluster.lab:2376', SkipTLSVerify: true } } }));
    certs(path.join(dir, 'contexts', 'tls', id, 'docker'), 'ctx');
    expect(resolveDockerTarget({}, home)).toMatchObject({ source: 'the default socket', isDefault: true });
    fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify({ currentContext: 'cluster' }));
    const t = resolveDockerTarget({}, home);
    expect(t).toMatchObject({ address: 'tcp://cluster.lab:2376', source: 'docker context "cluster"', options: { protocol: 'https', host: 'cluster.lab', port: 2376, rejectUnauthorized: false } });
    expect(String(t.options.ca)).toBe('ctx-ca');
    expect(resolveDockerTarget({ DOCKER_HOST: 'unix:///x.sock' }, home).source).toBe('DOCKER_HOST');
    expect(resolveDockerTarget({ DOCKER_CONTEXT: 'default' }, home).isDefault).toBe(true);
    fs.writeFileSync(path.join(dir, 'config.json'), '{not json');
    expect(() => resolveDockerTarget({}, home)).toThrow(/the docker config .*config\.json is not valid JSON/);
  });
});
