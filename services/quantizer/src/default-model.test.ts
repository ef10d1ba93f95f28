import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tinyCheckpoint } from '../../../test/support/tiny-artifact.js';
import { chooseModel, DEFAULT_MODEL } from './default-model.js';

const work = mkdtempSync(join(tmpdir(), 'default-model-'));
let hub: Server;
let hubUrl = '';
beforeAll(async () => {
  hub = createServer((_req, res) => res.writeHead(404).end());
  await new Promise<void>((r) => hub.listen(0, '127.0.0.1', r));
  hubUrl = `http://127.0.0.1:${(hub.address() as { port: number }).port}`;
});
afterAll(() => {
  hub.close();
  rmSync(work, { recursive: true, force: true });
});

const base = () => ({ cacheDir: join(work, 'cache'), syntheticDir: join(work, 'synthetic'), probeTimeoutMs: 300, log: (m: string) => logs.push(m) });
let logs: string[] = [];

describe('chooseModel', () => {
  it('uses MODEL_SOURCE as given', async () => {
    expect(await chooseModel({ ...base(), modelSource: '/data/my-gpt2', endpoint: hubUrl })).toEqual({ model: '/data/my-gpt2', synthetic: false });
  });

  it('uses distilgpt2 from the hub when the hub answers', async () => {
    expect(await chooseModel({ ...base(), modelSource: undefined, endpoint: hubUrl })).toEqual({ model: DEFAULT_MODEL, synthetic: false });
  });

  it('falls back to a synthetic model, loudly, when the hub does not answer', async () => {
    logs = [];
    // A checkpoint already in the fallback directory is reused (make-model would write a distil one).
    cpSync(tinyCheckpoint(), join(work, 'synthetic'), { recursive: true });
    const closed = `http://127.0.0.1:9`;
    const chosen = await chooseModel({ ...base(), modelSource: undefined, endpoint: closed });
    expect(chosen).toEqual({ model: join(work, 'synthetic'), synthetic: true });
    expect(logs.join('\n')).toMatch(/SYNTHETIC .*RANDOM weights/);
    expect(logs.join('\n')).toContain('MODEL_SOURCE');
  });
});
